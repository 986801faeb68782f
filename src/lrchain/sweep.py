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
        from lrchain.provenance import code_tags

        self.client, experiment_id, uri = _open_store(config)
        overrides = list(config.hydra.overrides.task)
        name = f"{' '.join(overrides) or 'sweep'} ({time.strftime('%Y-%m-%d %H:%M:%S')})"
        tags = code_tags() | {TAG_SWEEP: "true"}
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
        print(f"[lrchain] sweep {name!r}: parent run {self.parent_id} at {uri}", flush=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        failures = sorted(Path(config.hydra.sweep.dir).glob(f"**/{FAILURE_FILE}"))
        failed = [path.read_text().splitlines()[0] for path in failures]
        parent_id = self.parent_id
        self._compare(Path(config.hydra.sweep.dir) / "comparison")
        self._end("FAILED" if failed else "FINISHED")
        _print_links(self.client, parent_id)
        if failed:
            print(f"[lrchain] {len(failed)} job(s) failed: {'; '.join(failed)}", file=sys.stderr)
            raise SystemExit(1)

    def _compare(self, out: Path) -> None:
        """The children's figures and table into `out` and the parent's comparison/; never fatal."""
        if self.parent_id is None:
            return
        try:
            from lrchain import comparison, store
            from lrchain.contract import COMPARISON_ARTIFACTS

            parent = self.client.get_run(self.parent_id)
            children = store.children_of(self.client, self.parent_id)
            if not children:
                print("[lrchain] no comparison: no job of this sweep logged a run", flush=True)
                return
            rows = comparison.write_comparison(self.client, children, out, parent.info.run_name)
            self.client.log_artifacts(self.parent_id, str(out), COMPARISON_ARTIFACTS)
        except Exception as err:  # the runs are logged already; a missing figure must not lose them
            reason = f"{type(err).__name__}: {err}"
            print(f"[lrchain] warning: no comparison made: {reason}", file=sys.stderr, flush=True)
            return
        print(f"\n{comparison.to_markdown(rows)}[lrchain] comparison: {out}", flush=True)

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
