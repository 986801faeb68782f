"""MNIST, Fashion-MNIST and CIFAR-10 through torchvision's own classes, from tiny files in each
dataset's on-disk format (never downloaded), and every model trained on every dataset."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import clean_env, client_for, history, project, runs_of, train

from lrchain import engine
from lrchain.catalog import train_size
from lrchain.configs import compose, plain
from lrchain.data import Augment, DataError, load_data, steps_per_epoch
from lrchain.errors import ConfigError
from lrchain.model_logging import log_model
from lrchain.models import build_model, build_optimizer
from lrchain.schedules import build_schedule
from lrchain.validate import validate

TRAIN, TEST = 40, 10  # images per tiny dataset: 4 and 1 per class
TORCHVISION = ("mnist", "fashion_mnist", "cifar10")
DATASETS = ("digits", *TORCHVISION)
MODELS = {
    "cnn": ["model.width=4", "model.hidden=16"],
    "mlp": ["model.hidden=16", "model.depth=1"],
    "resnet18": [],
}


def balanced_labels(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.permutation(np.arange(n) % 10).astype(np.uint8)


def write_idx(path: Path, array: np.ndarray) -> None:
    """An uncompressed IDX file: 0, 0, type 0x08 (unsigned byte), rank, big-endian sizes, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(root: Path, folder: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """torchvision's MNIST layout, ROOT/FOLDER/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    arrays = {}
    for prefix, n in (("train", TRAIN), ("t10k", TEST)):
        arrays[prefix] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", arrays[prefix])
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", balanced_labels(n, rng))
    return arrays


def write_cifar10(root: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """CIFAR-10's python layout: pickled batches of rows of 3072 bytes (R, G, B planes)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    images = rng.integers(0, 256, (TRAIN + TEST, 3, 32, 32), dtype=np.uint8)
    labels = balanced_labels(TRAIN, rng).tolist() + balanced_labels(TEST, rng).tolist()
    per_batch = TRAIN // 5
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for i, name in enumerate(names):
        rows = slice(i * per_batch, (i + 1) * per_batch) if i < 5 else slice(TRAIN, None)
        batch = {
            "batch_label": name,
            "labels": labels[rows],
            "data": images[rows].reshape(-1, 3072),
        }
        (folder / name).write_bytes(pickle.dumps(batch))
    meta = {"label_names": [f"class{i}" for i in range(10)], "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    return {"train": images[:TRAIN], "t10k": images[TRAIN:]}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, dict[str, dict[str, np.ndarray]]]:
    """A data root holding all three tiny datasets, and the raw images written."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    written = {
        "mnist": write_mnist(root, "MNIST", rng),
        "fashion_mnist": write_mnist(root, "FashionMNIST", rng),
        "cifar10": write_cifar10(root, rng),
    }
    return root, written


def data_overrides(name: str, root: Path) -> list[str]:
    if name == "digits":
        return ["data=digits"]
    found = [f"data={name}", f"data.root={root}", "data.download=false", "data.val_fraction=0.25"]
    return found + (["data.verify=false"] if name == "cifar10" else [])  # not the official md5s


def settings(*overrides: str) -> dict:
    return plain(compose(list(overrides)))


def load(name: str, root: Path, *extra: str, seed: int = 0):
    cfg = settings(*data_overrides(name, root), *extra)
    return load_data(cfg["data"], seed, torch.device("cpu"))


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_files_load_as_normalised_split_tensors_with_the_test_set(name, files):
    root, written = files
    data = load(name, root)
    channels, side = (3, 32) if name == "cifar10" else (1, 28)
    assert data.shape == (channels, side, side) and data.num_classes == 10
    assert (len(data.train), len(data.val), len(data.test)) == (30, 10, TEST)
    assert torch.bincount(data.val.y, minlength=10).tolist() == [1] * 10  # stratified
    cfg = settings(*data_overrides(name, root))["data"]
    mean = torch.tensor(cfg["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(cfg["std"]).view(1, -1, 1, 1)
    pixels = torch.from_numpy(written[name]["t10k"]).float().view(TEST, channels, side, side)
    # The test split keeps the files' order: un-normalising gives back the pixels written.
    torch.testing.assert_close(data.test.x * std + mean, pixels / 255)
    assert (data.augment is not None) == (name == "cifar10")


def test_split_and_subset_are_seeded(files):
    root, _ = files
    first, again = load("mnist", root, "data.subset=16"), load("mnist", root, "data.subset=16")
    other = load("mnist", root, "data.subset=16", seed=1)
    assert len(first.train) == 16 and len(first.val) == 10
    assert torch.equal(first.train.x, again.train.x) and torch.equal(first.val.y, again.val.y)
    assert not torch.equal(first.train.x, other.train.x)
    with pytest.raises(ConfigError, match=r"data.subset: 54001 is more than the \d+ training"):
        validate(settings(*data_overrides("mnist", root), "data.subset=54001"))


CACHED = """
import sys, torch
from lrchain.data import load_data
data = load_data({"name": "digits", "val_fraction": 0.2}, 3, torch.device("cpu"))
torch.save([data.train.x, data.train.y, data.val.x, data.val.y], sys.argv[1])
print("sklearn" in sys.modules)
"""


def test_digits_and_splits_come_from_the_cache_once_made_and_are_the_same(tmp_path: Path):
    env = clean_env(LRCHAIN_CACHE=str(tmp_path / "cache"))
    runs = []
    for i in range(2):
        saved = tmp_path / f"data{i}.pt"
        proc = subprocess.run(
            [sys.executable, "-c", CACHED, str(saved)], env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        runs.append((proc.stdout.split()[-1], torch.load(saved)))
    assert [imported for imported, _ in runs] == ["True", "False"]  # scikit-learn: once
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1], strict=True))
    assert len(list((tmp_path / "cache").glob("split-*-3.pt"))) == 1


def test_a_cache_file_that_is_not_a_split_of_these_labels_is_ignored(files, tmp_path, monkeypatch):
    root, _ = files
    monkeypatch.setenv("LRCHAIN_CACHE", str(tmp_path / "cache"))
    first = load("mnist", root)
    for kept in (tmp_path / "cache").glob("split-*.pt"):
        torch.save([torch.arange(3), torch.arange(2)], kept)  # not a split of these labels
    again = load("mnist", root)
    assert torch.equal(first.train.y, again.train.y) and torch.equal(first.val.x, again.val.x)
    (kept,) = (tmp_path / "cache").glob("split-*.pt")
    assert sum(len(part) for part in torch.load(kept)) == TRAIN  # made again, whole


def test_train_size_without_loading_matches_official_sizes():
    digits = settings("data=digits")["data"]
    assert train_size(digits) == len(load_data(digits, 0, torch.device("cpu")).train)
    assert train_size(settings("data=mnist")["data"]) == 54000
    assert train_size(settings("data=fashion_mnist")["data"]) == 54000
    assert train_size(settings("data=cifar10")["data"]) == 45000
    assert train_size(settings("data=cifar10", "data.subset=500")["data"]) == 500


def test_augment_crops_a_window_of_the_padded_image_and_flips_it_seeded():
    x = torch.randn(6, 3, 32, 32)
    out = Augment(seed=0, device=torch.device("cpu"))(x)
    assert torch.equal(out, Augment(seed=0, device=torch.device("cpu"))(x))
    assert not torch.equal(out, Augment(seed=1, device=torch.device("cpu"))(x))
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4), mode="reflect")
    for i in range(len(x)):
        windows = [padded[i, :, dy : dy + 32, dx : dx + 32] for dy in range(9) for dx in range(9)]
        assert any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(2)) for w in windows)


def test_cifar10_files_not_matching_the_published_md5_sums_are_refused(files):
    root, _ = files
    with pytest.raises(DataError, match="data_batch_1, .*test_batch.* do not match") as err:
        load("cifar10", root, "data.verify=true")
    assert "data.verify=false" in str(err.value)


@pytest.mark.parametrize("model_name", MODELS)
@pytest.mark.parametrize("name", DATASETS)
def test_every_model_trains_one_epoch_on_every_dataset(name, model_name, files):
    root, _ = files
    overrides = [*data_overrides(name, root), "data.subset=16", f"model={model_name}"]
    cfg = settings(*overrides, *MODELS[model_name])
    torch.manual_seed(0)
    data = load_data(cfg["data"], 0, torch.device("cpu"))
    model = build_model(cfg["model"], data.shape, data.num_classes)
    optimizer = build_optimizer(cfg["optim"], model.parameters())
    schedule = build_schedule(cfg["sched"], optimizer, 1, steps_per_epoch(len(data.train), 8))
    before = [p.detach().clone() for p in model.parameters()]
    seen: list[dict[str, float]] = []
    generator = torch.Generator().manual_seed(0)
    engine.fit(
        model,
        data,
        optimizer,
        schedule,
        epochs=1,
        batch_size=8,
        generator=generator,
        on_epoch=lambda e, m, s: seen.append(m),
    )
    (metrics,) = seen
    assert all(math.isfinite(v) for v in metrics.values())
    assert ("test/loss" in metrics) == (name != "digits") == ("test/acc" in metrics)
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))


@pytest.fixture(scope="module")
def cifar_run(files, tmp_path_factory) -> tuple[Path, str]:
    """`python train.py data=cifar10 ... tracking.log_model=true`, 2 epochs: folder and run id."""
    folder = tmp_path_factory.mktemp("cifar")
    project(folder)
    model = ["model=cnn", *MODELS["cnn"], "tracking.log_model=true"]
    train(folder, *data_overrides("cifar10", files[0]), *model, "trainer.epochs=2")
    (run,) = runs_of(folder)
    assert run.info.status == "FINISHED"
    return folder, run.info.run_id


@pytest.mark.slow
def test_train_py_logs_the_test_set_once_and_the_dataset_inputs(files, cifar_run):
    folder, run_id = cifar_run
    test_loss, test_acc = history(folder, run_id, "test/loss"), history(folder, run_id, "test/acc")
    assert [step for step, _ in test_loss] == [step for step, _ in test_acc] == [1]  # last epoch
    inputs = client_for(folder).get_run(run_id).inputs.dataset_inputs
    by_context = {i.tags[0].value: i.dataset for i in inputs}
    assert sorted(by_context) == ["test", "train", "val"]
    assert {d.name for d in by_context.values()} == {"cifar10"}
    assert len({d.digest for d in by_context.values()}) == 3
    train_set = by_context["train"]
    assert str(files[0]) in train_set.source and "[30, 3, 32, 32]" in train_set.schema


@pytest.mark.slow
def test_logged_models_load_back_with_the_same_predictions(files, cifar_run, monkeypatch):
    import mlflow

    folder, run_id = cifar_run
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = client_for(folder)
    data = load("cifar10", files[0])
    # The model train.py logged scores the official test set as the run logged it.
    (output,) = client.get_run(run_id).outputs.model_outputs
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    loaded = mlflow.pytorch.load_model(f"models:/{output.model_id}")
    with torch.inference_mode():
        logits = loaded(data.test.x)
    loss = torch.nn.functional.cross_entropy(logits, data.test.y).item()
    acc = (logits.argmax(1) == data.test.y).float().mean().item()
    assert math.isclose(loss, history(folder, run_id, "test/loss")[0][1], rel_tol=1e-5)
    assert acc == history(folder, run_id, "test/acc")[0][1]
    # One logged here, in a run of its own, predicts exactly as the model in memory.
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    other = client.create_run(client.get_run(run_id).info.experiment_id).info.run_id
    model = build_model(settings("model=cnn", *MODELS["cnn"])["model"], data.shape, 10)
    model_uri = log_model(client, other, model, data.val.x)
    assert mlflow.active_run() is None and model.training  # nothing left active or changed
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with torch.inference_mode():  # 10 images where the example had 4: the batch size is free
        torch.testing.assert_close(
            mlflow.pytorch.load_model(model_uri)(data.test.x), model.eval()(data.test.x)
        )
    layers = {type(layer).__module__ for layer in mlflow.pytorch.load_model(model_uri).modules()}
    assert all(name.startswith("torch.") for name in layers), layers  # loads without lrchain
    signature = mlflow.models.get_model_info(model_uri).signature
    assert signature.inputs.inputs[0].shape == (-1, 3, 32, 32)


@pytest.mark.slow
def test_missing_files_offline_fail_before_any_run_and_say_what_to_get(launch_dir):
    proc = train(launch_dir, "data=fashion_mnist", "data.download=false", check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert str(launch_dir / "data" / "FashionMNIST" / "raw") in proc.stderr  # root: beside train.py
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"):
        assert name in proc.stderr
    assert "data.download=true" in proc.stderr and "data.root" in proc.stderr
    assert runs_of(launch_dir) == []  # failed before any run was created
