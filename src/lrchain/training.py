"""One run, in phases: check, build, open the run, fit, close. Failures: lrchain.failures."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from lrchain import checkpoint, collector, engine, model_logging, store
from lrchain.build import Parts, build, expected_csv, resolve_threads
from lrchain.contract import (
    CONFIG_ARTIFACT,
    EXPECTED_ARTIFACT,
    OVERRIDES_ARTIFACT,
    TAG_PARENT,
    TAG_RESUME_DIVERGED_EPOCH,
    TAG_SCHED,
    TAG_THREADS,
    TIMING,
)
from lrchain.failures import ends_truthfully
from lrchain.progress import LOG, EpochPrinter, summary_line
from lrchain.provenance import code_tags, device_tags
from lrchain.spool import FOLDER, RunLog
from lrchain.validate import validate

# Told each epoch once it is logged; returns tags to end the run with, early and FINISHED, or None.
EpochHook = Callable[[int, dict[str, float]], dict[str, str] | None]


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
    jobs_at_once: int = 1  # jobs of this launch running at once on this host, sharing its cores
    threads: int | None = None  # intra-op threads instead of trainer.threads (reproduce: as logged)
    after_epoch: EpochHook | None = None  # a search's trial: reports each epoch, may stop the run


@dataclass
class Run:
    """An open MLflow run and what it has logged so far."""

    client: Any
    run_id: str
    name: str
    log: RunLog
    history: list[dict] = field(default_factory=list)  # {epoch, metrics, step_lrs}, in order
    resumed: bool = False
    logged: dict[str, dict[int, float]] = field(default_factory=dict)  # resumed: key->step->value
    diverged_epoch: int | None = None  # resumed: the first re-run epoch unlike the logged one


@dataclass
class Result:
    """What a finished run left: its id and its last epoch's metrics."""

    run_id: str
    metrics: dict[str, float]


def train(config: dict[str, Any], launch: Launch) -> Result:
    """Train one model as `config` (a resolved config) says, logged as a new MLflow run."""
    validate(config)
    trainer = config["trainer"]
    threads = launch.threads or resolve_threads(trainer.get("threads", "auto"), launch.jobs_at_once)
    opening = open_beside(config, launch)
    try:
        parts = build(config, launch.launch_dir, threads)
    except BaseException:
        if opening is not None:
            opening.join()  # never leave a store half created
        raise
    run = open_run(config, launch, parts, opening.result() if opening else None)
    collector.resume()  # loaded: a paused collector runs again, for what training creates
    return complete(config, parts, run, launch.after_epoch)


def open_beside(config: dict[str, Any], launch: Launch) -> Beside | None:
    """The store opening on a thread while the data loads; None where that is not safe.

    A new SQLite store spends seconds creating its tables, mostly waiting on the disk. No run
    is created before the build succeeds. Not safe: opening a SQLite store from another folder
    than the launch folder changes this process's folder for a moment (lrchain.store.opening).
    """
    if Path.cwd() != launch.launch_dir.resolve():
        return None
    from mlflow import MlflowClient  # noqa: F401  here: two threads importing pandas at once race

    return Beside(open_store, config, launch)


def open_store(config: dict[str, Any], launch: Launch) -> tuple[Any, str, str]:
    """A client of the run's store, its experiment's id (both created when missing), its URI."""
    tracking = config["tracking"]
    uri = store.resolve_uri(launch.tracking_uri or tracking["uri"], launch.launch_dir)
    client, experiment_id = store.open_experiment(uri, tracking["experiment"], launch.launch_dir)
    return client, experiment_id, uri


def open_run(
    config: dict[str, Any], launch: Launch, parts: Parts, opened: tuple | None = None
) -> Run:
    """A new RUNNING run holding the config, its provenance and the curve the schedule promises."""
    client, experiment_id, uri = opened or open_store(config, launch)
    tracking = config["tracking"]
    name = launch.name or tracking["run_name"] or config["sched"]["name"]
    dtype = "bfloat16-autocast" if parts.amp else "float32"
    tags = code_tags() | device_tags(parts.device, dtype) | {TAG_SCHED: config["sched"]["name"]}
    tags |= {TAG_THREADS: str(parts.threads)}
    tags |= ({TAG_PARENT: launch.parent_id} if launch.parent_id else {}) | launch.tags
    texts = {
        CONFIG_ARTIFACT: OmegaConf.to_yaml(config),
        OVERRIDES_ARTIFACT: OmegaConf.to_yaml(OmegaConf.create(launch.overrides)),
        EXPECTED_ARTIFACT: expected_csv(parts.expected),
    }
    params = store.flatten(config)
    run_id, artifacts = store.start_run(client, experiment_id, name, tags, params, texts)
    print(
        f"[lrchain] run {name} ({run_id}) in experiment {tracking['experiment']} at {uri}",
        flush=True,
    )
    log = run_log(client, run_id, launch.output_dir, launch.launch_dir, artifacts)
    return Run(client, run_id, name, log)


def run_log(
    client: Any,
    run_id: str,
    output_dir: Path | None,
    launch_dir: Path,
    artifact_uri: str | None = None,
) -> RunLog:
    """The run's log; what the store cannot take waits in the job's output folder."""
    folder = output_dir or launch_dir / "outputs" / f"run-{run_id}"
    artifact_uri = artifact_uri or client.get_run(run_id).info.artifact_uri
    return RunLog(client, run_id, artifact_uri, folder / FOLDER)


def complete(
    config: dict[str, Any], parts: Parts, run: Run, after_epoch: EpochHook | None = None
) -> Result:
    """Fit and close an open run; it ends FINISHED, FAILED or KILLED, as it happened."""
    with ends_truthfully(run.log):
        if not run.resumed:  # written beside the first epochs: mlflow.data takes a while to load
            run.log.later(model_logging.log_dataset_inputs, run.client, run.run_id, parts.data)
        fit(config, parts, run, after_epoch)
        close(config, parts, run)
    LOG.info(summary_line(run.name, run.run_id, run.history))  # what the run reached, in a line
    return Result(run.run_id, run.history[-1]["metrics"] if run.history else {})


def fit(
    config: dict[str, Any], parts: Parts, run: Run, after_epoch: EpochHook | None = None
) -> None:
    """Train the epochs the run still lacks; each is logged, then checkpointed when due, printed.

    `after_epoch` may end the run early: its tags are logged and the run ends FINISHED.
    """
    trainer = config["trainer"]
    printer = EpochPrinter(run.name, trainer["epochs"])
    every = trainer.get("checkpoint_every", 60)  # a config logged before the key: its default
    keeper = Checkpoints(run.log, parts, every, trainer["checkpoint"])

    def on_epoch(epoch: int, metrics: dict[str, float], step_lrs: list[float]) -> bool:
        metrics = record(run, epoch, metrics, step_lrs)
        run.history.append({"epoch": epoch, "metrics": metrics, "step_lrs": step_lrs})
        keeper.after_epoch(run.history)
        printer(epoch, metrics)
        stop = after_epoch(epoch, metrics) if after_epoch else None
        if stop:
            run.log.tag(stop)
        return bool(stop)

    try:
        train_epochs(config, parts, on_epoch, start_epoch=len(run.history))
    finally:  # at the end, and on Ctrl-C, SIGTERM or an error: the last complete epoch's state
        keeper.keep()


def record(run: Run, epoch: int, metrics: dict[str, float], step_lrs: list[float]) -> dict:
    """Hand the epoch to the run's log; returns the metrics its history keeps.

    A resumed run re-runs the epochs after its checkpoint. What the store holds of them already
    is compared, not logged twice, and stays as logged; the first epoch whose numbers differ (a
    GPU need not compute the same twice; a CPU does) is tagged, and the run goes on.
    """
    points = store.epoch_points(epoch, metrics, step_lrs) if run.logged else []
    held = [(key, step, value) for key, step, value in points if step in run.logged.get(key, {})]
    if not held:
        run.log.epoch(epoch, metrics, step_lrs)
        return metrics
    unlike = [
        key for key, step, value in held if key not in TIMING and run.logged[key][step] != value
    ]
    if unlike and run.diverged_epoch is None:
        run.diverged_epoch = epoch
        run.log.tag({TAG_RESUME_DIVERGED_EPOCH: str(epoch)})
        print(
            f"[lrchain] warning: re-run epoch {epoch} differs from the logged one in"
            f" {', '.join(sorted(set(unlike)))}; the logged history is kept and the run goes on"
            f" (tagged {TAG_RESUME_DIVERGED_EPOCH}={epoch})",
            file=sys.stderr,
            flush=True,
        )
    if len(held) < len(points):  # cut short mid-epoch: the store has part of it
        run.log.epoch(epoch, metrics, step_lrs, only_missing=True)
    logged = {key: run.logged[key][step] for key, step, _ in held if step == epoch}
    return metrics | logged


class Checkpoints:
    """When a run's state is kept: every `every` seconds (0: each epoch), when its log starts
    keeping epochs on disk, and at the end, an interruption included. Off: never."""

    def __init__(self, log: RunLog, parts: Parts, every: float, enabled: bool = True):
        self.log, self.parts, self.every, self.enabled = log, parts, every, enabled
        self.newest: dict | None = None  # the last complete epoch's state, not handed over yet
        self.last = time.monotonic()
        self.spooling = False

    def after_epoch(self, history: list[dict]) -> None:
        if not self.enabled:
            return
        self.newest = checkpoint.state(self.parts, history)
        spool_began = self.log.spooling and not self.spooling
        self.spooling = self.log.spooling
        if spool_began or time.monotonic() - self.last >= self.every:
            self.keep()

    def keep(self) -> None:
        """Hand the newest state to the log, if it has not been."""
        if self.newest is not None:
            self.log.checkpoint(self.newest)
            self.newest = None
            self.last = time.monotonic()


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
        run.log.wait()
        model_logging.log_model(run.client, run.run_id, parts.model, parts.data.val.x[:4])


class Beside:
    """`fn(*args)` on its own thread; `result()` waits, then returns or raises what it did."""

    def __init__(self, fn: Callable, *args: Any):
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, args), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable, args: tuple) -> None:
        try:
            self._value = fn(*args)
        except BaseException as err:
            self._error = err

    def join(self) -> None:
        self._thread.join()

    def result(self) -> Any:
        self.join()
        if self._error is not None:
            raise self._error
        return self._value
