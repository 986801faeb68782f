"""The Hydra callback: the store set up in the launch folder, and one parent run per sweep."""

from __future__ import annotations

import atexit
import json
import sys
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from lrchain.contract import TAG_SWEEP
from lrchain.errors import ConfigError, TrackingError

SWEEP_FILE = "lrchain-sweep.json"  # in the sweep folder: the parent run and swept keys, for jobs
FAILURE_FILE = "failure.txt"  # written into a failed job's output folder; the sweep reads it


def sweep_dir(config: DictConfig) -> Path:
    """The sweep's folder, absolute: jobs on other processes or hosts find it from theirs."""
    return Path(config.hydra.runtime.cwd) / str(config.hydra.sweep.dir)


def read_sweep(output_dir: Path) -> dict[str, Any]:
    """What the sweep told its jobs (parent run, swept keys), found above a job's output folder.

    A file in the sweep folder, not an environment variable: it reaches jobs that a launcher
    pickles to other processes or hosts (submitit, SLURM) as well as the basic launcher's.
    """
    for folder in (output_dir, *output_dir.parents[:3]):
        if (folder / SWEEP_FILE).is_file():
            return json.loads((folder / SWEEP_FILE).read_text())
    return {}


def swept_keys(overrides: list[str]) -> list[str]:
    """The keys of the overrides that take several values (`sched=step,exp` -> `sched`)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    return [o.key_or_group for o in parsed if o.is_sweep_override()]


def _open_store(config: DictConfig) -> tuple[Any, str, str]:
    """The store and experiment of `config`, created in the launch folder before any job runs."""
    from lrchain import store

    launch_dir = Path(config.hydra.runtime.cwd)
    try:
        uri = store.resolve_uri(config.tracking.uri, launch_dir)
        client, experiment_id = store.open_experiment(uri, config.tracking.experiment, launch_dir)
    except TrackingError as err:
        raise SystemExit(f"lrchain: {err}") from None
    except Exception as err:  # Hydra would only warn and run the jobs anyway
        raise SystemExit(f"lrchain: the tracking store failed to open: {err}") from None
    return client, experiment_id, uri


def refuse_store_jobs_cannot_share(config: DictConfig) -> None:
    """A SQLite file given to a launcher whose jobs may run on other hosts: one message, no job."""
    from lrchain import store

    launcher = config.hydra.launcher
    try:
        uri = store.resolve_uri(config.tracking.uri, Path(config.hydra.runtime.cwd))
    except TrackingError:
        return  # _open_store names what is wrong with the URI itself
    if store.sqlite_file(uri) is None or runs_on_this_host(launcher):
        return
    choice = config.hydra.runtime.choices.get("hydra/launcher") or launcher.get("_target_")
    raise SystemExit(
        f"lrchain: tracking.uri: {uri} is a SQLite file, and hydra/launcher={choice} may run jobs"
        " on other hosts, which cannot share it (SQLite's locks do not hold across hosts, even on"
        " a shared filesystem); start a tracking server (mlflow server --host HOST --port PORT,"
        " README: Beyond one machine) and pass tracking.uri=http://HOST:PORT, or keep the jobs"
        " on this host (hydra/launcher=joblib or hydra/launcher=local)"
    )


def runs_on_this_host(launcher: Any) -> bool:
    """Whether a Hydra launcher's config keeps every job on the launching host."""
    target = str(launcher.get("_target_", ""))
    here = (".BasicLauncher", ".ParallelLauncher", ".JoblibLauncher", ".LocalLauncher")
    if target.endswith(here):
        return True
    if target.endswith(".RayLauncher"):  # a local Ray unless it joins a cluster's address
        return launcher.get("ray", {}).get("init", {}).get("address") is None
    return False  # SLURM, Ray on AWS, RQ workers, launchers lrchain does not know


def launched_together(hydra: Any) -> int | None:
    """How many jobs a sweep's sweeper launches together (`hydra` is its config's hydra node):
    all of the basic sweeper's (or a batch, `max_batch_size`), a search's `n_jobs` trials;
    None for another sweeper."""
    try:
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
        from hydra.core.override_parser.overrides_parser import OverridesParser

        if str(hydra.sweeper.get("_target_", "")).endswith(".ScheduleSearch"):
            return int(hydra.sweeper.n_jobs)  # trials launched together
        if not str(hydra.sweeper.get("_target_", "")).endswith(".BasicSweeper"):
            return None
        parsed = OverridesParser.create().parse_overrides(list(hydra.overrides.task))
        return len(BasicSweeper.split_arguments(parsed, hydra.sweeper.get("max_batch_size"))[0])
    except Exception:  # Hydra changed: the launcher's count stands
        return None


def waiting_for_sync(sweep: Path) -> list[Path]:
    """The job folders of `sweep` (and the sweep itself) holding what the store did not take."""
    from lrchain.spool import FOLDER

    held = ("pending.jsonl", "last.pt", "status")  # what lrchain.spool.RunLog keeps on disk
    found = [sweep / FOLDER, *sweep.glob(f"*/{FOLDER}")]
    waiting = [f.parent for f in found if any((f / name).exists() for name in held)]
    return sorted(waiting, key=lambda d: (d != sweep, int(d.name) if d.name.isdigit() else 0))


def _keep_status(client: Any, run_id: str | None, status: str, sweep: Path) -> None:
    """The parent's final status, kept in the sweep folder for `lrchain sync SWEEP_DIR`."""
    from lrchain.spool import FOLDER, RunLog

    if run_id is not None:
        RunLog(client, run_id, "", sweep / FOLDER).end(status)


def _print_unsynced(folders: list[Path], parent_id: str | None) -> None:
    """Which folders `lrchain sync` must upload once the store answers again."""
    if not folders:
        return
    commands = "".join(f"\n  lrchain sync {folder}" for folder in folders)
    print(
        f"[lrchain] {len(folders)} run(s) of this sweep ended while the store was unreachable;"
        f" what it missed waits on disk. Once it answers, run:{commands}\n[lrchain] then"
        f" `lrchain compare {parent_id}` compares them with nothing missing",
        file=sys.stderr,
        flush=True,
    )


def _sigterm_ends_like_ctrl_c() -> None:
    """SIGTERM to the launching process ends the sweep as Ctrl-C does: its parent run KILLED."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, signal.default_int_handler)


class SweepCallback(Callback):
    """Creates the store before a run, and a sweep's parent run before its first job."""

    def __init__(self) -> None:
        self.client: Any = None
        self.parent_id: str | None = None

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        # A single run: a bad config is refused before the store is touched; the store is opened
        # here, before Hydra may change folder (hydra.job.chdir), so its artifacts go to ./mlruns.
        from omegaconf import OmegaConf

        from lrchain.validate import validate

        job = OmegaConf.masked_copy(config, [k for k in config if k != "hydra"])
        try:
            validate(OmegaConf.to_container(job, resolve=True))  # type: ignore[arg-type]
        except ConfigError as err:
            raise SystemExit(f"lrchain: {err}") from None
        _open_store(config)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        refuse_store_jobs_cannot_share(config)  # first: before torch is imported, within a second
        from lrchain.search import sweeper as search

        if search.is_search(config):  # its keys and space, before the parent run is created
            search.check(config)
        from lrchain import compose_once, drawing, workers

        if runs_on_this_host(config.hydra.launcher):  # the end is near enough to be waited for
            drawing.warm()  # the figures' helper loads matplotlib while this process loads torch
        from lrchain.provenance import source_tags

        loading = workers.start(config, launched_together(config.hydra) or 1)  # joblib's, meanwhile
        try:
            self.client, experiment_id, uri = _open_store(config)
        except BaseException:
            workers.stop(loading)  # no job will come: the error at once, not after their imports
            raise
        workers.load_here(config)  # the basic launcher's jobs run here
        compose_once.install(config)  # the batch's check composes each job; the launch reuses it
        overrides = list(config.hydra.overrides.task)
        shown = [o for o in overrides if not o.startswith(("tracking.", "hydra"))]  # not where
        name = f"{' '.join(shown) or 'sweep'} ({time.strftime('%Y-%m-%d %H:%M:%S')})"
        tags = source_tags() | {TAG_SWEEP: "true"}
        parent = self.client.create_run(experiment_id, run_name=name, tags=tags)
        self.parent_id = parent.info.run_id
        self.client.log_param(self.parent_id, "sweep.overrides", " ".join(overrides))
        self.client.log_param(self.parent_id, "sweep.dir", str(config.hydra.sweep.dir))
        folder = sweep_dir(config)
        folder.mkdir(parents=True, exist_ok=True)
        info = {
            "parent_run_id": self.parent_id,
            "swept": swept_keys(overrides),
            "tracking_uri": uri,
        }
        (folder / SWEEP_FILE).write_text(json.dumps(info))
        atexit.register(self._end, "KILLED")  # Ctrl-C or a crash of the sweep itself
        _sigterm_ends_like_ctrl_c()  # `kill`, or a scheduler stopping the launching process
        print(f"[lrchain] sweep {name!r}: parent run {self.parent_id} at {uri}", flush=True)
        from lrchain import collector

        collector.resume()  # before Hydra composes every job's config: its garbage is freed

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from lrchain import store

        # Jobs may have run on other hosts: what they left is read from the shared sweep folder.
        folder = Path(config.hydra.sweep.dir)
        failures = sorted(folder.glob(f"**/{FAILURE_FILE}"))
        failed = [path.read_text().splitlines()[0] for path in failures]
        parent_id = self.parent_id
        self._compare(folder / "comparison")
        status = "FAILED" if failed else "FINISHED"
        try:
            self._end(status)
        except store.unreachable():  # the parent's status waits in the sweep folder
            _keep_status(self.client, parent_id, status, folder)
        _print_links(self.client, parent_id)
        _print_unsynced(waiting_for_sync(folder), parent_id)
        if failed:
            print(f"[lrchain] {len(failed)} job(s) failed: {'; '.join(failed)}", file=sys.stderr)
            raise SystemExit(1)

    def _compare(self, out: Path) -> None:
        """The children's figures and tables, per run and per group of seeds, into `out` and the
        parent's comparison/; the groups' summaries as parent metrics, a group tag on each child.
        Never fatal."""
        if self.parent_id is None:
            return
        try:
            from lrchain import comparison, grouped, store
            from lrchain.contract import COMPARISON_ARTIFACTS

            parent = self.client.get_run(self.parent_id)
            children = store.children_of(self.client, self.parent_id)
            if not children:
                print("[lrchain] no comparison: no job of this sweep logged a run", flush=True)
                return
            result = comparison.write_comparison(self.client, children, out, parent.info.run_name)
            self.client.log_artifacts(self.parent_id, str(out), COMPARISON_ARTIFACTS)
            if result.groups is not None:
                grouped.record(self.client, self.parent_id, result.groups)
        except Exception as err:  # the runs are logged already; a missing figure must not lose them
            reason = f"{type(err).__name__}: {err}"
            print(f"[lrchain] warning: no comparison made: {reason}", file=sys.stderr, flush=True)
            return
        replicated = result.groups is not None and result.groups.replicated
        per_run = f" (one row per run: {out / 'summary.md'})" if replicated else ""
        print(f"\n{result.report()}[lrchain] comparison: {out}{per_run}", flush=True)

    def _end(self, status: str) -> None:
        """End the parent run with `status`, once."""
        if self.parent_id is None:
            return
        parent_id, self.parent_id = self.parent_id, None
        self.client.set_terminated(parent_id, status)


def _print_links(client: Any, parent_id: str | None) -> None:
    """Where to look in MLflow's UI: the runs view, and the lr of this sweep's runs."""
    if parent_id is None:
        return
    try:
        from lrchain import store, ui
        from lrchain.contract import LR

        parent = client.get_run(parent_id)
        children = [r.info.run_id for r in store.children_of(client, parent_id)]
    except Exception:  # links are a convenience: a store gone quiet must not fail the sweep
        return
    base, experiment_id = ui.ui_base(client.tracking_uri), parent.info.experiment_id
    start = "" if client.tracking_uri.startswith("http") else " (start it with `make ui`)"
    print(f"[lrchain] runs in MLflow's UI{start}: {ui.runs_link(base, experiment_id)}")
    if children:
        link = ui.metric_link(base, experiment_id, children, LR)
        print(f"[lrchain] their learning rates side by side: {link}", flush=True)
