"""Building a run: config -> data, model, optimizer, schedule and the curve it promises."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lrchain.cores import usable_cores
from lrchain.data import Data, load_data, steps_per_epoch
from lrchain.errors import ConfigError
from lrchain.models import build_model, build_model_optimizer, scratch_optimizer
from lrchain.param_groups import lr_keys, sched_for_groups
from lrchain.schedules import Schedule, build_schedule, expected_group_lrs


@dataclass
class Parts:
    """What one run trains with, built from its config."""

    device: torch.device
    data: Data
    model: nn.Module  # the weights trained and checkpointed
    compiled: nn.Module  # what the engine calls: `model`, or torch.compile(model)
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    expected: dict[str, list[float]]  # per lr metric (lr, lr/head): each epoch's promised lr
    generator: torch.Generator  # the order of training batches
    rngs: dict[str, torch.Generator]  # every random stream a resume must continue
    amp: bool  # bfloat16 autocast (CUDA); otherwise exact float32
    threads: int  # torch's intra-op threads: float sums differ in the last bits between counts


def build(config: dict[str, Any], launch_dir: Path, threads: int | None = None) -> Parts:
    """Everything a run needs, from a checked config; data files are found from `launch_dir`.

    Trains on `threads` intra-op threads; None: as `trainer.threads` says, for a job alone here.
    """
    trainer, seed = config["trainer"], config["seed"]
    threads = threads or resolve_threads(trainer.get("threads", "auto"))
    torch.set_num_threads(threads)
    device = pick_device(trainer["device"])
    torch.manual_seed(seed)
    if trainer["deterministic"]:
        torch.use_deterministic_algorithms(True, warn_only=True)
    data = load_data(config["data"], seed, device, launch_dir)
    model = build_model(config["model"], data.shape, data.num_classes).to(device)
    model = model.to(memory_format=torch.channels_last)  # ~1.4x faster convolutions, CPU too
    data.channels_last()
    optimizer = build_model_optimizer(config["optim"], model)
    epochs, steps = trainer["epochs"], steps_per_epoch(len(data.train), trainer["batch_size"])
    sched = sched_for_groups(config["sched"], config["optim"])
    expected, _ = expected_group_lrs(sched, scratch_optimizer(config["optim"]), epochs, steps)
    generator = torch.Generator().manual_seed(seed)
    rngs = {"batches": generator}
    if data.augment is not None:
        rngs["augment"] = data.augment.generator
    return Parts(
        device=device,
        data=data,
        model=model,
        compiled=torch.compile(model) if trainer["compile"] else model,
        optimizer=optimizer,
        schedule=build_schedule(sched, optimizer, epochs, steps),
        expected=dict(zip(lr_keys(optimizer), expected, strict=True)),
        generator=generator,
        rngs=rngs,
        amp=trainer["precision"] == "auto" and device.type == "cuda",
        threads=threads,
    )


def expected_csv(expected: Mapping[str, Sequence[float]]) -> str:
    """The `lr_expected.csv` artifact: a row per epoch, a column per lr metric (lr, lr/head)."""
    rows = zip(*expected.values(), strict=True)
    lines = [",".join(["epoch", *expected])]
    lines += [",".join([str(e), *(repr(v) for v in row)]) for e, row in enumerate(rows)]
    return "\n".join(lines) + "\n"


def resolve_threads(setting: int | str, jobs_at_once: int = 1) -> int:
    """`auto`: the cores this process may use, shared by the jobs running at once on this host.

    At least 1; a number is taken as it is. OMP_NUM_THREADS is not consulted: joblib's workers
    inherit one it sets itself, and a count the user wants is `trainer.threads=N`.
    """
    if setting != "auto":
        return int(setting)
    return max(1, usable_cores() // max(1, jobs_at_once))


def pick_device(name: str) -> torch.device:
    """`auto` is cuda when available, else cpu; otherwise the named device, which must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"trainer.device: {name!r} asked for, but no CUDA GPU is available")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise ConfigError(f"trainer.device: got {name!r}; allowed: cuda:0 to cuda:{count - 1}")
    return device
