"""Section `engine`: lrchain's training loop against a DataLoader loop, and their FLOP rates."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable

from harness import Plan, Row, Stat

TITLE = "throughput and FLOP share: digits and a CIFAR-10-shaped set"
Epoch = Callable[[], None]


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def engine_loop(cfg: dict, model, train, device, total_epochs: int) -> tuple[Epoch, object]:
    """One epoch of lrchain's engine, set up as lrchain.build sets up a real run on `device`.

    Not lrchain.build itself: both sides train a given split (one of them random) from the same
    initial weights. Returns the epoch and the device split.
    """
    import torch

    from lrchain.data import Split, steps_per_epoch
    from lrchain.engine import train_epoch
    from lrchain.models import build_optimizer
    from lrchain.schedules import build_schedule

    batch = cfg["trainer"]["batch_size"]
    model.to(device).to(memory_format=torch.channels_last)
    optimizer = build_optimizer(cfg["optim"], model.parameters())
    spe = steps_per_epoch(len(train), batch)
    schedule = build_schedule(cfg["sched"], optimizer, total_epochs, spe)
    x = train.x.to(device).contiguous(memory_format=torch.channels_last)
    split = Split(x, train.y.to(device))
    amp = device.type == "cuda" and cfg["trainer"]["precision"] == "auto"  # bfloat16 on CUDA
    generator = torch.Generator().manual_seed(0)

    def epoch() -> None:
        loss, _ = train_epoch(model, split, optimizer, schedule, batch, generator, amp=amp)
        schedule.on_epoch_end({"train/loss": loss.item()})

    return epoch, split


def plain_loop(cfg: dict, model, train, device) -> Epoch:
    """One epoch as a user writes it: DataLoader, batches moved to the device, loss.item()."""
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset

    from lrchain.models import build_optimizer

    model.to(device)
    optimizer = build_optimizer(cfg["optim"], model.parameters())
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.9)
    loader = DataLoader(
        TensorDataset(train.x.cpu(), train.y.cpu()), cfg["trainer"]["batch_size"], shuffle=True
    )

    def epoch() -> None:
        model.train()
        total = 0.0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(y)
        schedule.step()

    return epoch


def images_per_second(loops: list[Epoch], images: int, device, epochs: int, reps: int) -> list:
    """Each loop's images/s over `epochs` epochs, `reps` times, the loops taking turns."""
    results: list[list[float]] = [[] for _ in loops]
    for rep in range(reps + 1):  # the first round warms up and is not counted
        for i, epoch in enumerate(loops):
            sync(device)
            start = time.perf_counter()
            for _ in range(epochs):
                epoch()
            sync(device)
            if rep:
                results[i].append(epochs * images / (time.perf_counter() - start))
    return [Stat(samples) for samples in results]


def throughput(cfg: dict, train, device, epochs: int, reps: int) -> tuple[Stat, Stat, float]:
    """Training images/s of lrchain's engine and of a DataLoader loop; FLOPs per image."""
    import torch
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    from lrchain.models import build_model

    torch.manual_seed(0)
    ours = build_model(cfg["model"], tuple(train.x.shape[1:]), 10)
    base = copy.deepcopy(ours)  # the same weights on both sides
    engine_epoch, split = engine_loop(cfg, ours, train, device, (reps + 1) * epochs)
    plain_epoch = plain_loop(cfg, base, train, device)
    engine, plain = images_per_second([engine_epoch, plain_epoch], len(train), device, epochs, reps)
    batch = cfg["trainer"]["batch_size"]
    x, y = split.x[:batch], split.y[:batch]
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(ours(x), y).backward()
    return engine, plain, counter.get_total_flops() / len(x)


def matmul_rate(device, reps: int, n: int = 2048) -> Stat:
    """fp32 GFLOP/s of one big torch.mm."""
    import torch

    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    torch.mm(a, b)
    rates = []
    for _ in range(reps):
        sync(device)
        start = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        rates.append(2 * n**3 / (time.perf_counter() - start) / 1e9)
    return Stat(rates)


def rows(plan: Plan) -> list[Row]:
    import torch

    from lrchain.data import Split, load_data

    cfg, device = plan.cfg, plan.device
    digits = load_data(cfg["data"], cfg["seed"], torch.device("cpu")).train
    generator = torch.Generator().manual_seed(0)
    cifar = Split(torch.randn(2048, 3, 32, 32, generator=generator), torch.arange(2048) % 10)
    gflops = matmul_rate(device, plan.reps)
    found, result = {}, []
    for name, train, epochs in (("digits 1x8x8", digits, 3), ("random 3x32x32", cifar, 1)):
        ours, base, flops = throughput(cfg, train, device, epochs, max(1, plan.reps - 2))
        found[name] = (ours, base, flops)
        target, met = ("-", None)
        if name.startswith("digits"):
            target, met = (">= 1.3x", lambda o, r: r >= 1.3)
        elif device.type == "cuda":
            target, met = (">= 3x", lambda o, r: r >= 3)
        result.append(Row(f"train images/s, {name}, batch 64", ours, base, ",.0f", target, met))
    result.append(Row(f"fp32 matmul rate, torch.mm 2048^2 (GFLOP/s, {device.type})", gflops))
    for name, (ours, base, flops) in found.items():
        shares = [
            Stat([100 * x * flops / 1e9 / gflops.median for x in s.samples]) for s in (ours, base)
        ]
        figure = f"share of matmul rate in training, {name}, {flops / 1e6:.1f} MFLOP/img (%)"
        result.append(Row(figure, *shares, fmt=".1f"))
    return result
