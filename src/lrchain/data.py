"""Datasets as in-memory tensors on the training device, batched by slicing."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import torch

from lrchain.errors import ConfigError

DATASETS = ("digits",)
DIGITS_SIZE = 1797  # images in scikit-learn's bundled digits


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
    """A dataset ready for the engine: train and validation splits plus what describes it."""

    name: str
    train: Split
    val: Split
    num_classes: int

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one image (C, H, W)."""
        return tuple(self.train.x.shape[1:])


def load_data(cfg: Mapping, seed: int, device: torch.device) -> Data:
    """Load the dataset named by `cfg['name']` onto `device`, split with `seed`."""
    name = cfg["name"]
    if name not in DATASETS:
        raise DataError(
            f"data.name: unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}"
        )
    return _load_digits(cfg, seed, device)


def train_size(cfg: Mapping) -> int:
    """How many training images `cfg` gives, without loading them."""
    return DIGITS_SIZE - math.ceil(DIGITS_SIZE * cfg["val_fraction"])


def _load_digits(cfg: Mapping, seed: int, device: torch.device) -> Data:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    frac = cfg["val_fraction"]
    if not 0 < frac < 1:
        raise DataError(f"data.val_fraction: must lie between 0 and 1, got {frac!r}")
    images, labels = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        images, labels, test_size=frac, stratify=labels, random_state=seed
    )
    x_train = torch.tensor(x_train, dtype=torch.float32).reshape(-1, 1, 8, 8)
    x_val = torch.tensor(x_val, dtype=torch.float32).reshape(-1, 1, 8, 8)
    mean, std = x_train.mean(), x_train.std()
    return Data(
        name="digits",
        train=_split((x_train - mean) / std, y_train, device),
        val=_split((x_val - mean) / std, y_val, device),
        num_classes=10,
    )


def _split(x: torch.Tensor, y, device: torch.device) -> Split:
    return Split(x.to(device), torch.as_tensor(y, dtype=torch.long).to(device))


def batches(
    n: int, batch_size: int, device: torch.device, generator: torch.Generator | None = None
) -> Iterator[torch.Tensor]:
    """Index tensors on `device` covering range(n) in batches; shuffled when given a generator."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    yield from order.to(device).split(batch_size)


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Batches per epoch, the last one possibly short."""
    return math.ceil(n / batch_size)
