"""Section `checkpoints`: a ResNet-18 checkpoint's size, copy and write, and an epoch's time."""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from harness import Plan, Row, Stat

TITLE = "checkpoints: model=resnet18 on CIFAR-10-shaped batches"
CIFAR_TRAIN = 45_000  # CIFAR-10's training images after lrchain's validation split
BATCHES = 3  # timed training batches; one more warms up


def resnet_parts(plan: Plan) -> tuple[SimpleNamespace, object]:
    """ResNet-18 as lrchain builds it, with what a checkpoint holds; and its training split."""
    import torch

    from lrchain import configs
    from lrchain.data import Split
    from lrchain.models import build_model, build_optimizer
    from lrchain.schedules import build_schedule

    cfg = configs.plain(configs.compose(["model=resnet18", "data=cifar10"]))
    torch.manual_seed(0)
    model = build_model(cfg["model"], (3, 32, 32), 10).to(memory_format=torch.channels_last)
    optimizer = build_optimizer(cfg["optim"], model.parameters())
    batch = cfg["trainer"]["batch_size"]
    steps = math.ceil(CIFAR_TRAIN / batch)
    schedule = build_schedule(cfg["sched"], optimizer, cfg["trainer"]["epochs"], steps)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn((BATCHES + 1) * batch, 3, 32, 32, generator=generator)
    split = Split(x.contiguous(memory_format=torch.channels_last), torch.arange(len(x)) % 10)
    parts = SimpleNamespace(
        model=model, optimizer=optimizer, schedule=schedule, rngs={"batches": generator}
    )
    return parts, split


def batch_seconds(parts: SimpleNamespace, split, batch: int) -> Stat:
    """Seconds per training batch of 64 (the first, warming up, not counted)."""
    import torch.nn.functional as F

    model, optimizer = parts.model, parts.optimizer
    model.train()
    times = []
    for i in range(BATCHES + 1):
        x, y = split.x[i * batch : (i + 1) * batch], split.y[i * batch : (i + 1) * batch]
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        if i:
            times.append(time.perf_counter() - start)
    return Stat(times)


def rows(plan: Plan) -> list[Row]:
    from lrchain import checkpoint

    parts, split = resnet_parts(plan)
    batch = plan.cfg["trainer"]["batch_size"]
    per_batch = batch_seconds(parts, split, batch)  # also fills SGD's momentum buffers
    steps = math.ceil(CIFAR_TRAIN / batch)
    epoch = Stat([t * steps for t in per_batch.samples])
    history = [{"epoch": 0, "metrics": {"lr": 0.1}, "step_lrs": []}]
    copies, writes, size = [], [], 0.0
    with tempfile.TemporaryDirectory(prefix="lrchain-bench-") as tmp:
        path = Path(tmp) / "checkpoint" / "last.pt"
        for _ in range(plan.reps):
            start = time.perf_counter()
            state = checkpoint.state(parts, history)  # type: ignore[arg-type]
            copies.append(time.perf_counter() - start)
            start = time.perf_counter()
            checkpoint.save_atomic(state, path)
            writes.append(time.perf_counter() - start)
        size = path.stat().st_size / 1e6
    copy, write = Stat(copies), Stat(writes)
    every = plan.cfg["trainer"]["checkpoint_every"]
    share = Stat([100 * c / e for c, e in zip(copy.samples, epoch.samples, strict=False)])
    return [
        Row(
            "resnet18 checkpoint (weights, SGD momentum, schedule, RNGs), size (MB)",
            None,
            text=f"{size:.1f}",
        ),
        Row("  copy of the state, on the training thread, each epoch (s)", copy, fmt=".3f"),
        Row("  write + fsync, on the writer thread (s)", write, fmt=".3f"),
        Row(f"resnet18 time per CIFAR-10 epoch, from {BATCHES} batches of {batch} (s)", epoch),
        Row(
            f"  training thread's checkpoint cost per epoch, checkpoint_every={every} (%)",
            share,
            fmt=".3f",
        ),
    ]
