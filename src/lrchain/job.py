"""One training run: config -> data, model, optimizer, schedule -> engine -> MLflow run."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from lrchain import checkpoint, engine, model_logging, spool, tracking
from lrchain.configs import check_config
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


def run_name(settings: Mapping, overrides: list[str], swept: list[str]) -> str:
    """The configured name, else the schedule's, else the swept overrides when more than it vary."""
    if settings["tracking"]["run_name"]:
        return str(settings["tracking"]["run_name"])
    varying = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") in swept]
    if any(not o.startswith("sched=") for o in varying):
        return ",".join(varying)
    return str(settings["sched"]["name"])


@dataclass
class Launch:
    """How a run was asked for, beyond its config."""

    launch_dir: Path  # the folder the user launched from: default store, data root
    overrides: list[str] = field(default_factory=list)  # the job's command-line overrides
    swept: list[str] = field(default_factory=list)  # keys that vary in the sweep
    parent_id: str | None = None  # the sweep's parent run
    resume_id: str | None = None  # continue this run from its last checkpoint
    allow_changes: bool = False  # resume even though the config differs from the logged one
    tags: dict[str, str] = field(default_factory=dict)  # extra tags of a new run
    name: str | None = None  # the new run's name, instead of the one the config gives
    tracking_uri: str | None = None  # the store, instead of the config's (params unchanged)
    output_dir: Path | None = None  # the job's own folder: what the store cannot take waits here


@dataclass
class Result:
    """What a finished run left: its id, the client of its store, its last epoch's metrics."""

    run_id: str
    client: Any
    metrics: dict[str, float]


def train(settings: dict[str, Any], launch: Launch) -> Result:
    """Train one model as `settings` (a resolved config) says, logged as one MLflow run."""
    check_config(settings)
    trainer = settings["trainer"]
    device = pick_device(trainer["device"])
    torch.manual_seed(settings["seed"])
    if trainer["deterministic"]:
        torch.use_deterministic_algorithms(True, warn_only=True)

    data = load_data(settings["data"], settings["seed"], device, launch.launch_dir)
    model = build_model(settings["model"], data.shape, data.num_classes).to(device)
    amp = trainer["precision"] == "auto" and device.type == "cuda"  # bfloat16 for tensor cores
    model = model.to(memory_format=torch.channels_last)  # ~1.4x faster convolutions, CPU too
    data.channels_last()
    runner = torch.compile(model) if trainer["compile"] else model
    optimizer = build_optimizer(settings["optim"], model.parameters())
    epochs, batch = trainer["epochs"], trainer["batch_size"]
    spe = steps_per_epoch(len(data.train), batch)
    schedule = build_schedule(settings["sched"], optimizer, epochs, spe)
    preview = build_optimizer(settings["optim"], [torch.zeros(0, requires_grad=True)])
    expected, _ = expected_lrs(settings["sched"], preview, epochs, spe)
    generator = torch.Generator().manual_seed(settings["seed"])
    rngs = {"batches": generator}  # every random stream a resume must continue
    if data.augment is not None:
        rngs["augment"] = data.augment.generator

    uri = tracking.tracking_uri(
        launch.tracking_uri or settings["tracking"]["uri"], launch.launch_dir
    )
    experiment = settings["tracking"]["experiment"]
    client, experiment_id = tracking.open_experiment(uri, experiment, launch.launch_dir)
    params = tracking.flatten(settings)
    history: list[dict] = []
    if launch.resume_id:
        run_id, name = launch.resume_id, client.get_run(launch.resume_id).info.run_name
        history = _resume(client, launch, params, model, optimizer, schedule, rngs)
    else:
        name = launch.name or run_name(settings, launch.overrides, launch.swept)
        dtype = "bfloat16-autocast" if amp else "float32"
        tags = (
            code_tags() | device_tags(device, dtype) | {"lrchain.sched": settings["sched"]["name"]}
        )
        tags |= {"mlflow.parentRunId": launch.parent_id} if launch.parent_id else {}
        texts = {
            "config/config.yaml": OmegaConf.to_yaml(settings),
            "config/overrides.yaml": OmegaConf.to_yaml(OmegaConf.create(launch.overrides)),
            "lr_expected.csv": "epoch,lr\n"
            + "".join(f"{e},{v!r}\n" for e, v in enumerate(expected)),
        }
        run_id = tracking.start_run(client, experiment_id, name, tags | launch.tags, params, texts)
    artifact_uri = client.get_run(run_id).info.artifact_uri
    folder = launch.output_dir or launch.launch_dir / "outputs" / f"run-{run_id}"
    log = spool.RunLog(client, run_id, uri, artifact_uri, folder / spool.FOLDER)
    verb = "resumes" if launch.resume_id else "run"
    print(f"[lrchain] {verb} {name} ({run_id}) in experiment {experiment} at {uri}", flush=True)

    printer = EpochPrinter(name, epochs)

    def on_epoch(epoch: int, metrics: dict[str, float], step_lrs: list[float]) -> None:
        history.append({"epoch": epoch, "metrics": metrics, "step_lrs": step_lrs})
        if trainer["checkpoint"]:  # first the checkpoint: a crash now re-logs from it on resume
            log.checkpoint(_state(model, optimizer, schedule, rngs, history))
        log.epoch(epoch, metrics, step_lrs)
        printer(epoch, metrics)

    with tracking.run_status(log.end), _interruptible():
        if not launch.resume_id:
            model_logging.log_dataset_inputs(client, run_id, data)
        try:
            engine.fit(
                runner,
                data,
                optimizer,
                schedule,
                epochs,
                batch,
                generator,
                on_epoch,
                len(history),
                amp,
            )
        except engine.Diverged as err:
            client.set_tag(run_id, "lrchain.diverged", "true")
            client.set_tag(run_id, "lrchain.diverged_epoch", str(err.epoch))
            raise
        if settings["tracking"].get("log_model"):
            model_logging.log_model(client, run_id, model, data.val.x[:4])
    return Result(run_id, client, history[-1]["metrics"] if history else {})


def _state(model, optimizer, schedule, rngs: dict, history: list[dict]) -> dict:
    """Everything needed to continue after the last epoch of `history`, as plain tensors."""
    metrics = [h["metrics"] for h in history]
    return {
        "epoch": history[-1]["epoch"],
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "rngs": {name: g.get_state() for name, g in rngs.items()},
        "torch_rng": torch.get_rng_state(),
        "history": history,
        "best": {
            "val/loss": min(m["val/loss"] for m in metrics),
            "val/acc": max(m["val/acc"] for m in metrics),
        },
    }


def _resume(client, launch: Launch, params, model, optimizer, schedule, rngs: dict) -> list[dict]:
    """Load the run's last checkpoint into the objects; log epochs the store missed; RUNNING."""
    run = client.get_run(launch.resume_id)
    changed = sorted(
        k for k in params.keys() | run.data.params.keys() if params.get(k) != run.data.params.get(k)
    )
    if changed and not launch.allow_changes:
        raise ConfigError(
            f"resume: the config differs from the logged one in {', '.join(changed)}; MLflow"
            " keeps a run's params fixed: resume without changes, or pass --allow-changes"
        )
    state = checkpoint.fetch(client, run.info.run_id, run.info.artifact_uri)
    if state is None:
        history = []
    else:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        for name, g in rngs.items():
            g.set_state(state["rngs"][name])
        torch.set_rng_state(state["torch_rng"])
        history = state["history"]
    logged = {m.step for m in client.get_metric_history(run.info.run_id, "lr")}
    for h in history:
        if h["epoch"] not in logged:
            tracking.log_epoch(client, run.info.run_id, h["epoch"], h["metrics"], h["step_lrs"])
    if changed:
        client.set_tag(run.info.run_id, "lrchain.resume_changes", ",".join(changed)[:5000])
    client.update_run(run.info.run_id, status="RUNNING")
    return history


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """SIGTERM ends the run like Ctrl-C (KILLED); a second signal exits at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def first(signum, frame):
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, second)
        raise KeyboardInterrupt

    def second(signum, frame):
        os._exit(128 + signum)

    previous = {sig: signal.signal(sig, first) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(cfg: DictConfig) -> float | None:
    """The Hydra task: a user error ends in one message; in a sweep a failure ends the job only."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra = HydraConfig.get()
    in_sweep = hydra.mode == RunMode.MULTIRUN
    settings: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    launch = Launch(
        launch_dir=Path(hydra.runtime.cwd),
        overrides=list(hydra.overrides.task),
        swept=json.loads(os.environ.get(SWEPT_ENV, "[]")) if in_sweep else [],
        parent_id=os.environ.get(PARENT_ENV) if in_sweep else None,
        output_dir=Path(hydra.runtime.output_dir),
    )
    try:
        return train(settings, launch).metrics.get("val/loss")
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
