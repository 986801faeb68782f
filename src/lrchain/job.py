"""One Hydra job: config -> data, model, optimizer, schedule -> engine -> MLflow run."""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from lrchain import engine, tracking
from lrchain.data import load_data, steps_per_epoch
from lrchain.errors import ConfigError, TrackingError
from lrchain.models import build_model, build_optimizer
from lrchain.progress import EpochPrinter
from lrchain.provenance import code_tags, device_tags
from lrchain.schedules import build_schedule, expected_lrs

PARENT_ENV = "LRCHAIN_PARENT_RUN_ID"  # set by the sweep callback: the sweep's parent run
SWEPT_ENV = "LRCHAIN_SWEPT_KEYS"  # set by the sweep callback: JSON list of the keys that vary
FAILURE_FILE = "failure.txt"  # written into a failed job's output folder; the sweep reads it


def pick_device(name: str) -> torch.device:
    """`auto` is cuda when available, else cpu; otherwise the named device, checked."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(
            f"trainer.device: unknown device {name!r}; use auto, cpu, cuda or cuda:N"
        ) from None
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(
            f"trainer.device: {name!r} is not supported; use auto, cpu, cuda or cuda:N"
        )
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"trainer.device: {name!r} asked for, but no CUDA GPU is available")
    return device


def check_trainer(cfg: Mapping) -> None:
    """Fail early on lengths that make no sense."""
    for key in ("epochs", "batch_size"):
        value = cfg[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"trainer.{key}: must be a whole number of at least 1, got {value!r}")


def run_name(settings: Mapping, overrides: list[str], swept: list[str]) -> str:
    """The configured name, else the schedule's, else the swept overrides when more than it vary."""
    if settings["tracking"]["run_name"]:
        return str(settings["tracking"]["run_name"])
    varying = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") in swept]
    if any(not o.startswith("sched=") for o in varying):
        return ",".join(varying)
    return str(settings["sched"]["name"])


def train(cfg: DictConfig) -> float:
    """Train one model as `cfg` says and log it as one MLflow run; return the last val/loss."""
    from hydra.core.hydra_config import HydraConfig

    hydra = HydraConfig.get()
    launch_dir = Path(hydra.runtime.cwd)
    settings: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    trainer = settings["trainer"]
    check_trainer(trainer)
    device = pick_device(trainer["device"])
    torch.manual_seed(settings["seed"])
    if trainer["deterministic"]:
        torch.use_deterministic_algorithms(True, warn_only=True)

    data = load_data(settings["data"], settings["seed"], device)
    model = build_model(settings["model"], data.shape, data.num_classes).to(device)
    optimizer = build_optimizer(settings["optim"], model.parameters())
    epochs, batch = trainer["epochs"], trainer["batch_size"]
    spe = steps_per_epoch(len(data.train), batch)
    schedule = build_schedule(settings["sched"], optimizer, epochs, spe)
    preview = build_optimizer(settings["optim"], [torch.zeros(0, requires_grad=True)])
    expected, _ = expected_lrs(settings["sched"], preview, epochs, spe)

    uri = tracking.tracking_uri(settings["tracking"]["uri"], launch_dir)
    client, experiment_id = tracking.open_experiment(
        uri, settings["tracking"]["experiment"], launch_dir
    )
    overrides = list(hydra.overrides.task)
    name = run_name(settings, overrides, json.loads(os.environ.get(SWEPT_ENV, "[]")))
    tags = code_tags() | device_tags(device) | {"lrchain.sched": settings["sched"]["name"]}
    if os.environ.get(PARENT_ENV):
        tags["mlflow.parentRunId"] = os.environ[PARENT_ENV]
    texts = {
        "config/config.yaml": OmegaConf.to_yaml(cfg, resolve=True),
        "config/overrides.yaml": OmegaConf.to_yaml(OmegaConf.create(overrides)),
        "lr_expected.csv": "epoch,lr\n" + "".join(f"{e},{lr!r}\n" for e, lr in enumerate(expected)),
    }
    run_id = tracking.start_run(
        client, experiment_id, name, tags, tracking.flatten(settings), texts
    )
    experiment = settings["tracking"]["experiment"]
    print(f"[lrchain] run {name} ({run_id}) in experiment {experiment} at {uri}", flush=True)

    printer = EpochPrinter(name, epochs)
    history: dict[str, float] = {}

    def on_epoch(epoch: int, metrics: dict[str, float], step_lrs: list[float]) -> None:
        tracking.log_epoch(client, run_id, epoch, metrics, step_lrs)
        printer(epoch, metrics)
        history.update(metrics)

    generator = torch.Generator().manual_seed(settings["seed"])
    with tracking.run_status(client, run_id):
        try:
            engine.fit(model, data, optimizer, schedule, epochs, batch, generator, on_epoch)
        except engine.Diverged as err:
            client.set_tag(run_id, "lrchain.diverged", "true")
            client.set_tag(run_id, "lrchain.diverged_epoch", str(err.epoch))
            raise
    return history["val/loss"]


def main(cfg: DictConfig) -> float | None:
    """The Hydra task: a user error ends in one message; in a sweep a failure ends the job only."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra = HydraConfig.get()
    in_sweep = hydra.mode == RunMode.MULTIRUN
    try:
        return train(cfg)
    except (ConfigError, TrackingError) as err:
        message = str(err)
        if not in_sweep:
            raise SystemExit(f"lrchain: {message}") from None
    except Exception:
        if not in_sweep:
            raise
        message = traceback.format_exc()
    job = ",".join(hydra.overrides.task) or hydra.job.name
    print(f"[lrchain] job {job} failed:\n{message}", file=sys.stderr, flush=True)
    Path(hydra.runtime.output_dir, FAILURE_FILE).write_text(f"{job}\n{message}\n")
    return None
