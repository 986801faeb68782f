"""The default sweep written as a plain script, the baseline of `benchmarks/bench.py`.

What a user would write without lrchain: a DataLoader over a TensorDataset, `loss.item()` per
batch, a synchronous `mlflow.log_metric` per value, a fluent `mlflow.start_run` per job under one
parent run, PyTorch's own schedulers (ChainedScheduler for the chain), and a comparison figure
at the end. Same data, split, model, optimizer, batch size and epochs as `python train.py -m`.

    python benchmarks/plain_sweep.py --uri sqlite:////tmp/x/mlflow.db --scheds step,exp,chain
"""

from __future__ import annotations

import argparse
import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mlflow
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.optim import lr_scheduler
from torch.utils.data import DataLoader, TensorDataset

from lrchain.models import small_cnn  # the very same network, so only the loop differs


def digits(seed: int) -> tuple[TensorDataset, TensorDataset]:
    """scikit-learn's digits, stratified 80/20, normalised with the training split's statistics."""
    images, labels = load_digits(return_X_y=True)
    x = torch.tensor(images, dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.tensor(labels)
    train_idx, val_idx = train_test_split(
        range(len(y)), test_size=0.2, stratify=labels, random_state=seed
    )
    mean, std = x[train_idx].mean(), x[train_idx].std()
    x = (x - mean) / std
    return TensorDataset(x[train_idx], y[train_idx]), TensorDataset(x[val_idx], y[val_idx])


def scheduler(name: str, optimizer: torch.optim.Optimizer):
    if name == "step":
        return lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)
    if name == "exp":
        return lr_scheduler.ExponentialLR(optimizer, gamma=0.9)
    if name == "chain":
        return lr_scheduler.ChainedScheduler(
            [
                lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5),
                lr_scheduler.ExponentialLR(optimizer, gamma=0.9),
            ]
        )
    raise SystemExit(f"unknown schedule {name!r}; use step, exp or chain")


def train_one(model, loader, optimizer) -> float:
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
        count += len(y)
    return total / count


def evaluate(model, loader) -> tuple[float, float]:
    model.eval()
    total, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for x, y in loader:
            logits = model(x)
            total += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
            count += len(y)
    return total / count, correct / count


def job(sched: str, seed: int, epochs: int, batch_size: int) -> dict[str, list[float]]:
    """One run: train and log every value as it comes; return the curves for the figure."""
    torch.manual_seed(seed)
    train_set, val_set = digits(seed)
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True)
    val_loader = DataLoader(val_set, batch_size=batch_size * 4)
    model = small_cnn(1, 10, 32, 128)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    schedule = scheduler(sched, optimizer)
    config = {"sched": sched, "seed": seed, "epochs": epochs, "batch_size": batch_size}
    config |= {"optim": "sgd", "lr": 0.1, "momentum": 0.9, "model": "cnn", "data": "digits"}
    curves: dict[str, list[float]] = {"lr": [], "val/loss": []}
    with mlflow.start_run(run_name=sched, nested=True):
        mlflow.set_tag("sched", sched)
        mlflow.log_params(config)
        mlflow.log_dict(config, "config/config.yaml")
        for epoch in range(epochs):
            start = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            train_loss = train_one(model, train_loader, optimizer)
            val_loss, val_acc = evaluate(model, val_loader)
            schedule.step()
            seconds = time.perf_counter() - start
            for key, value in (
                ("lr", lr),
                ("train/loss", train_loss),
                ("val/loss", val_loss),
                ("val/acc", val_acc),
                ("epoch_seconds", seconds),
            ):
                mlflow.log_metric(key, value, step=epoch)
            print(
                f"{sched} seed {seed} epoch {epoch + 1}/{epochs} lr {lr:.4g}"
                f" train/loss {train_loss:.4f} val/loss {val_loss:.4f} val/acc {val_acc:.4f}",
                flush=True,
            )
            curves["lr"].append(lr)
            curves["val/loss"].append(val_loss)
    return curves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", default="sqlite:///mlflow.db", help="MLflow tracking URI")
    parser.add_argument("--scheds", default="step,exp,chain", help="comma-separated schedules")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", default="plain_comparison", help="folder for the figure")
    args = parser.parse_args()

    mlflow.set_tracking_uri(args.uri)
    mlflow.set_experiment("lrchain")
    results = {}
    with mlflow.start_run(run_name="sweep"):
        for seed in (int(s) for s in args.seeds.split(",")):
            for sched in args.scheds.split(","):
                results[f"{sched} seed {seed}"] = job(sched, seed, args.epochs, args.batch_size)
        os.makedirs(args.out, exist_ok=True)
        fig, (ax_lr, ax_loss) = plt.subplots(1, 2, figsize=(10, 4))
        for name, curves in results.items():
            ax_lr.plot(curves["lr"], label=name)
            ax_loss.plot(curves["val/loss"], label=name)
        ax_lr.set(xlabel="epoch", ylabel="lr", yscale="log")
        ax_loss.set(xlabel="epoch", ylabel="val/loss")
        ax_lr.legend(fontsize="small")
        figure = os.path.join(args.out, "comparison.png")
        fig.savefig(figure)
        mlflow.log_artifact(figure, "comparison")


if __name__ == "__main__":
    main()
