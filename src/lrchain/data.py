"""Datasets as in-memory tensors on the training device, batched by slicing."""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from lrchain import cache
from lrchain.errors import ConfigError

TORCHVISION = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "CIFAR10"}
DIGITS_SOURCE = "sklearn.datasets.load_digits"


class DataError(ConfigError):
    """Data that cannot be loaded as configured; the message says what to do."""


@dataclass
class Split:
    """Images (N, C, H, W) and integer labels (N,), on one device."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Data:
    """A dataset ready for the engine: train, validation and (when official) test splits."""

    name: str
    train: Split
    val: Split
    num_classes: int
    test: Split | None = None  # the official test set, evaluated once at the end
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None  # for training batches only
    source: str = DIGITS_SOURCE  # where the images came from: a folder or a loader

    def channels_last(self) -> None:
        """Store every split's images channels-last, the layout GPU convolutions prefer."""
        for split in (self.train, self.val, self.test):
            if split is not None:
                split.x = split.x.contiguous(memory_format=torch.channels_last)

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one image (C, H, W)."""
        return tuple(self.train.x.shape[1:])


class Augment:
    """Random crop from a reflect-padded image and random horizontal flip, a batch at a time."""

    def __init__(self, seed: int, device: torch.device, pad: int = 4):
        self.pad = pad
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        p, g = self.pad, self.generator
        flat = F.pad(x, (p, p, p, p), mode="reflect").flatten(2)  # (n, c, (h+2p)(w+2p))
        dy = torch.randint(0, 2 * p + 1, (n, 1, 1), generator=g, device=x.device)
        dx = torch.randint(0, 2 * p + 1, (n, 1, 1), generator=g, device=x.device)
        rows = dy + torch.arange(h, device=x.device).view(1, h, 1)
        cols = dx + torch.arange(w, device=x.device).view(1, 1, w)
        index = (rows * (w + 2 * p) + cols).view(n, 1, h * w).expand(n, c, h * w)
        crops = flat.gather(2, index).view(n, c, h, w)
        flip = torch.rand(n, generator=g, device=x.device) < 0.5
        return torch.where(flip.view(n, 1, 1, 1), crops.flip(3), crops)


def load_data(
    cfg: Mapping, seed: int, device: torch.device, launch_dir: Path | None = None
) -> Data:
    """Load the dataset named by `cfg['name']` (checked by lrchain.validate) onto `device`.

    Split with `seed`; a relative `cfg['root']` starts at `launch_dir` (default: here).
    """
    name, frac = cfg["name"], cfg["val_fraction"]
    if name == "digits":
        images, labels, test, source = *_read_digits(), None, DIGITS_SOURCE
    else:
        root = data_root(cfg, launch_dir)
        images, labels, test = _read_torchvision(name, root, cfg)
        source = str(root)
    train_idx, val_idx = _split_indices(labels, frac, seed)
    train_idx = _subset(train_idx, cfg.get("subset"), seed)
    train_images = images[train_idx]
    mean, std = _stats(cfg, train_images)
    return Data(
        name=name,
        train=_split(train_images, labels[train_idx], mean, std, device),
        val=_split(images[val_idx], labels[val_idx], mean, std, device),
        num_classes=10,
        test=_split(*test, mean, std, device) if test else None,
        augment=Augment(seed, device) if cfg.get("augment", False) else None,
        source=source,
    )


def data_root(cfg: Mapping, launch_dir: Path | None = None) -> Path:
    """The folder holding the dataset files: `cfg['root']`, relative ones from `launch_dir`."""
    root = Path(str(cfg["root"])).expanduser()
    return root if root.is_absolute() else (launch_dir or Path.cwd()) / root


def _read_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's digits as (N, 1, 8, 8) float32 images and labels; cached: no import."""

    def read() -> tuple[torch.Tensor, torch.Tensor]:
        from sklearn.datasets import load_digits

        images, labels = load_digits(return_X_y=True)
        return torch.tensor(images, dtype=torch.float32).reshape(-1, 1, 8, 8), torch.tensor(labels)

    shapes = [(1797, 1, 8, 8), (1797,)]  # images, labels: what scikit-learn gives
    name = f"digits-{cache.versions('scikit-learn')}.pt"
    images, labels = _cached(name, read, lambda t: [x.shape for x in t] == shapes)
    return images, labels


def _cached(
    name: str, make: Callable[[], tuple[torch.Tensor, ...]], valid: Callable[[tuple], bool]
) -> tuple[torch.Tensor, ...]:
    """`make()`'s tensors, kept in lrchain's cache as `name`; made again unless `valid`."""
    path = cache.folder() / name
    with contextlib.suppress(Exception):  # missing, not a file torch wrote, or not valid
        kept = tuple(torch.load(path, weights_only=True))
        if valid(kept):
            return kept
    made = make()
    with contextlib.suppress(OSError):  # a cache that cannot be written: made each time
        cache.put(path, lambda tmp: torch.save(list(made), tmp))
    return made


def _read_torchvision(name: str, root: Path, cfg: Mapping) -> tuple[torch.Tensor, ...]:
    """uint8 training images and labels, and the official test split, via torchvision."""
    dataset_class = _dataset_class(name, cfg.get("verify", True))
    download = cfg["download"]
    try:
        train = dataset_class(str(root), train=True, download=download)
        test = dataset_class(str(root), train=False, download=download)
    except Exception as err:  # torchvision raises RuntimeError, URLError or parsing errors
        raise DataError(_explain(dataset_class, name, root, download, err)) from None
    return *_images_labels(train), _images_labels(test)


def _dataset_class(name: str, verify: Any) -> type:
    """torchvision's class for `name`; unverified, CIFAR-10's reader skips the md5 checks."""
    import torchvision.datasets

    dataset_class = getattr(torchvision.datasets, TORCHVISION[name])
    if verify or name != "cifar10":
        return dataset_class
    # Re-declaring the file table is how torchvision's own CIFAR100 derives from CIFAR10.
    return type(
        "CIFAR10",
        (dataset_class,),
        {
            "train_list": [[f, None] for f, _ in dataset_class.train_list],
            "test_list": [[f, None] for f, _ in dataset_class.test_list],
            "meta": {**dataset_class.meta, "md5": None},
        },
    )


def _expected_files(dataset_class: type, root: Path) -> tuple[Path, dict[str, str | None]]:
    """The folder torchvision reads and its files, with their md5 sums where it checks them."""
    if hasattr(dataset_class, "resources"):  # the MNIST family: unpacked IDX files, unchecked
        folder = root / dataset_class.__name__ / "raw"
        return folder, {f.removesuffix(".gz"): None for f, _ in dataset_class.resources}
    files = dict(dataset_class.train_list + dataset_class.test_list)
    files[dataset_class.meta["filename"]] = dataset_class.meta["md5"]
    return root / dataset_class.base_folder, files


def _explain(dataset_class: type, name: str, root: Path, download: bool, err: Exception) -> str:
    """What went wrong reading `name` under `root`, and how to get the files."""
    from torchvision.datasets.utils import check_integrity

    folder, files = _expected_files(dataset_class, root)
    missing = [f for f in files if not (folder / f).is_file()]
    if missing:
        if hasattr(dataset_class, "mirrors"):
            how = f"download {dataset_class.mirrors[0]}FILE.gz for each and gunzip it there"
        else:
            how = f"download {dataset_class.url} and unpack it in {root}"
        if download:
            reason = ([line for line in str(err).splitlines() if line.strip()] or [repr(err)])[-1]
            fetch = f"The download failed ({reason.strip()}): connect to the internet and run again"
        else:
            fetch = "Set data.download=true to fetch them (needs internet)"
        wanted = "" if len(missing) == len(files) else f" (of {', '.join(files)})"
        return (
            f"data: {name} files missing in {folder}: {', '.join(missing)}{wanted}. {fetch},"
            f" or {how}, or point data.root=PATH at a folder that has them"
        )
    wrong = [f for f, md5 in files.items() if md5 and not check_integrity(str(folder / f), md5)]
    if wrong:
        return (
            f"data: {', '.join(wrong)} in {folder} do not match {name}'s published md5 sums;"
            " delete them and set data.download=true to fetch them again,"
            " or set data.verify=false to read them as they are"
        )
    return f"data: cannot read {name} from {folder}: {err}"


def _images_labels(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.as_tensor(dataset.data)
    # MNIST keeps (N, H, W); CIFAR-10 keeps (N, H, W, C): both become (N, C, H, W).
    images = images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2)
    return images.contiguous(), torch.as_tensor(dataset.targets, dtype=torch.long)


def _split_indices(labels: torch.Tensor, frac: float, seed: int) -> tuple[torch.Tensor, ...]:
    """Seeded train/val indices, stratified by class, as scikit-learn splits (cached)."""

    def split() -> tuple[torch.Tensor, torch.Tensor]:
        from sklearn.model_selection import train_test_split

        indices = torch.arange(len(labels)).numpy()
        train_idx, val_idx = train_test_split(
            indices, test_size=frac, stratify=labels.numpy(), random_state=seed
        )
        return torch.as_tensor(train_idx), torch.as_tensor(val_idx)

    digest = hashlib.sha256(labels.numpy().tobytes()).hexdigest()[:16]
    name = f"split-{cache.versions('scikit-learn')}-{digest}-{frac!r}-{seed}.pt"
    everyone = torch.arange(len(labels))  # a split of these labels: each index once
    train_idx, val_idx = _cached(
        name, split, lambda t: len(t) == 2 and torch.equal(torch.cat(t).sort().values, everyone)
    )
    return train_idx, val_idx


def _subset(train_idx: torch.Tensor, subset: int | None, seed: int) -> torch.Tensor:
    if subset is None:
        return train_idx
    order = torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(seed))
    return train_idx[order[:subset]]


def _stats(cfg: Mapping, train_images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std, shaped (1, C, 1, 1): the configured ones, else the data's."""
    channels = train_images.shape[1]
    if cfg.get("mean") is None:  # digits: statistics of its own training split
        x = train_images.float()
        return x.mean().expand(1, channels, 1, 1), x.std().expand(1, channels, 1, 1)
    # Published statistics are for pixels in [0, 1]; the files hold 0..255.
    mean = torch.tensor(list(cfg["mean"]), dtype=torch.float32).view(1, -1, 1, 1) * 255
    std = torch.tensor(list(cfg["std"]), dtype=torch.float32).view(1, -1, 1, 1) * 255
    return mean, std


def _split(
    x: torch.Tensor, y: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, device: torch.device
) -> Split:
    return Split(x.float().sub_(mean).div_(std).to(device), y.to(device))


def batches(
    n: int, batch_size: int, device: torch.device, generator: torch.Generator | None = None
) -> Iterator[torch.Tensor]:
    """Index tensors on `device` covering range(n) in batches; shuffled when given a generator."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    yield from order.to(device, non_blocking=True).split(batch_size)


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Batches per epoch, the last one possibly short."""
    return math.ceil(n / batch_size)
