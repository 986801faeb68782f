"""One run, in phases: check, build, open the run, fit, close. Failures: lrchain.failures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from lrchain import checkpoint, engine, model_logging, store
from lrchain.build import Parts, build
from lrchain.contract import (
    CONFIG_ARTIFACT,
    EXPECTED_ARTIFACT,
    OVERRIDES_ARTIFACT,
    TAG_PARENT,
    TAG_SCHED,
)
from lrchain.failures import ends_truthfully
from lrchain.progress import EpochPrinter
from lrchain.provenance import code_tags, device_tags
from lrchain.spool import FOLDER, RunLog
from lrchain.validate import validate


@dataclass
class Launch:
    """How a new run was asked for, beyond its config."""

    launch_dir: Path  # the folder the user launched from: default store, data root
    overrides: list[str] = field(default_factory=list)  # the job's command-line overrides
    name: str | None = None  # the run's name; None: tracking.run_name, else the schedule's
    parent_id: str | None = None  # the sweep's parent run
    tags: dict[str, str] = field(default_factory=dict)  # extra tags of the new run
    tracking_uri: str | None = None  # the store, instead of the config's (params unchanged)
    output_dir: Path | None = None  # the job's own folder: what the store cannot take waits here


@dataclass
class Run:
    """An open MLflow run and what it has logged so far."""

    client: Any
    run_id: str
    name: str
    log: RunLog
    history: list[dict] = field(default_factory=list)  # {epoch, metrics, step_lrs}, in order
    resumed: bool = False


@dataclass
class Result:
    """What a finished run left: its id and its last epoch's metrics."""

    run_id: str
    metrics: dict[str, float]


def train(config: dict[str, Any], launch: Launch) -> Result:
    """Train one model as `config` (a resolved config) says, logged as a new MLflow run."""
    validate(config)
    parts = build(config, launch.launch_dir)
    run = open_run(config, launch, parts)
    return complete(config, parts, run)


def open_run(config: dict[str, Any], launch: Launch, parts: Parts) -> Run:
    """A new RUNNING run holding the config, its provenance and the curve the schedule promises."""
    tracking = config["tracking"]
    uri = store.resolve_uri(launch.tracking_uri or tracking["uri"], launch.launch_dir)
    client, experiment_id = store.open_experiment(uri, tracking["experiment"], launch.launch_dir)
    name = launch.name or tracking["run_name"] or config["sched"]["name"]
    dtype = "bfloat16-autocast" if parts.amp else "float32"
    tags = code_tags() | device_tags(parts.device, dtype) | {TAG_SCHED: config["sched"]["name"]}
    tags |= {TAG_PARENT: launch.parent_id} if launch.parent_id else {}
    texts = {
        CONFIG_ARTIFACT: OmegaConf.to_yaml(config),
        OVERRIDES_ARTIFACT: OmegaConf.to_yaml(OmegaConf.create(launch.overrides)),
        EXPECTED_ARTIFACT: "epoch,lr\n"
        + "".join(f"{e},{v!r}\n" for e, v in enumerate(parts.expected)),
    }
    params = store.flatten(config)
    run_id = store.start_run(client, experiment_id, name, tags | launch.tags, params, texts)
    print(
        f"[lrchain] run {name} ({run_id}) in experiment {tracking['experiment']} at {uri}",
        flush=True,
    )
    return Run(client, run_id, name, run_log(client, run_id, launch.output_dir, launch.launch_dir))


def run_log(client: Any, run_id: str, output_dir: Path | None, launch_dir: Path) -> RunLog:
    """The run's log; what the store cannot take waits in the job's output folder."""
    folder = output_dir or launch_dir / "outputs" / f"run-{run_id}"
    return RunLog(client, run_id, client.get_run(run_id).info.artifact_uri, folder / FOLDER)


def complete(config: dict[str, Any], parts: Parts, run: Run) -> Result:
    """Fit and close an open run; it ends FINISHED, FAILED or KILLED, as it happened."""
    with ends_truthfully(run.log):
        if not run.resumed:
            model_logging.log_dataset_inputs(run.client, run.run_id, parts.data)
        fit(config, parts, run)
        close(config, parts, run)
    return Result(run.run_id, run.history[-1]["metrics"] if run.history else {})


def fit(config: dict[str, Any], parts: Parts, run: Run) -> None:
    """Train the epochs the run still lacks; each is checkpointed, then logged, then printed."""
    trainer = config["trainer"]
    printer = EpochPrinter(run.name, trainer["epochs"])

    def on_epoch(epoch: int, metrics: dict[str, float], step_lrs: list[float]) -> None:
        run.history.append({"epoch": epoch, "metrics": metrics, "step_lrs": step_lrs})
        if trainer["checkpoint"]:  # first the checkpoint: a crash now re-logs from it on resume
            run.log.checkpoint(checkpoint.state(parts, run.history))
        run.log.epoch(epoch, metrics, step_lrs)
        printer(epoch, metrics)

    train_epochs(config, parts, on_epoch, start_epoch=len(run.history))


def train_epochs(
    config: dict[str, Any], parts: Parts, on_epoch: engine.EpochListener, start_epoch: int = 0
) -> None:
    """The engine over `parts`, from `start_epoch` to the last epoch; each epoch to `on_epoch`."""
    engine.fit(
        parts.compiled,
        parts.data,
        parts.optimizer,
        parts.schedule,
        epochs=config["trainer"]["epochs"],
        batch_size=config["trainer"]["batch_size"],
        generator=parts.generator,
        on_epoch=on_epoch,
        start_epoch=start_epoch,
        amp=parts.amp,
    )


def close(config: dict[str, Any], parts: Parts, run: Run) -> None:
    """What a run records once trained: the model, when asked for."""
    if config["tracking"].get("log_model"):
        model_logging.log_model(run.client, run.run_id, parts.model, parts.data.val.x[:4])
