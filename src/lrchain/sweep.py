"""The Hydra callback of a sweep: one store set-up and one parent run, before any job starts."""

from __future__ import annotations

import atexit
import json
import os
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from lrchain.errors import TrackingError
from lrchain.job import FAILURE_FILE, PARENT_ENV, SWEPT_ENV


def swept_keys(overrides: list[str]) -> list[str]:
    """The keys of the overrides that take several values (`sched=step,exp` -> `sched`)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    return [o.key_or_group for o in parsed if o.is_sweep_override()]


class SweepCallback(Callback):
    """Creates the parent run in the launching process and closes it when the sweep ends."""

    def __init__(self) -> None:
        self.client: Any = None
        self.parent_id: str | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from lrchain import tracking
        from lrchain.provenance import code_tags

        launch_dir = Path(config.hydra.runtime.cwd)
        overrides = list(config.hydra.overrides.task)
        try:
            uri = tracking.tracking_uri(config.tracking.uri, launch_dir)
            self.client, experiment_id = tracking.open_experiment(
                uri, config.tracking.experiment, launch_dir
            )
        except TrackingError as err:
            raise SystemExit(f"lrchain: {err}") from None
        except Exception as err:  # Hydra would only warn and run the jobs without a parent
            raise SystemExit(f"lrchain: the sweep's tracking store failed to open: {err}") from None
        name = " ".join(overrides) or "sweep"
        tags = code_tags() | {"lrchain.sweep": "true"}
        parent = self.client.create_run(experiment_id, run_name=name, tags=tags)
        self.parent_id = parent.info.run_id
        self.client.log_param(self.parent_id, "sweep.overrides", name)
        self.client.log_param(self.parent_id, "sweep.dir", str(config.hydra.sweep.dir))
        os.environ[PARENT_ENV] = self.parent_id
        os.environ[SWEPT_ENV] = json.dumps(swept_keys(overrides))
        atexit.register(self._end, "KILLED")  # Ctrl-C or a crash of the sweep itself
        print(f"[lrchain] sweep {name!r}: parent run {self.parent_id} at {uri}", flush=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        failures = sorted(Path(config.hydra.sweep.dir).glob(f"**/{FAILURE_FILE}"))
        failed = [path.read_text().splitlines()[0] for path in failures]
        self._compare(Path(config.hydra.sweep.dir) / "comparison")
        self._end("FAILED" if failed else "FINISHED")
        if failed:
            print(f"[lrchain] {len(failed)} job(s) failed: {'; '.join(failed)}", file=sys.stderr)
            raise SystemExit(1)

    def _compare(self, out: Path) -> None:
        """The children's figures and table into `out` and the parent's comparison/; never fatal."""
        if self.parent_id is None:
            return
        try:
            from lrchain import compare

            parent = self.client.get_run(self.parent_id)
            children = compare.children_of(self.client, self.parent_id)
            if not children:
                print("[lrchain] no comparison: no job of this sweep logged a run", flush=True)
                return
            rows = compare.write_comparison(self.client, children, out, parent.info.run_name)
            self.client.log_artifacts(self.parent_id, str(out), "comparison")
        except Exception as err:  # the runs are logged already; a missing figure must not lose them
            reason = f"{type(err).__name__}: {err}"
            print(f"[lrchain] warning: no comparison made: {reason}", file=sys.stderr, flush=True)
            return
        print(f"\n{compare.to_markdown(rows)}[lrchain] comparison: {out}", flush=True)

    def _end(self, status: str) -> None:
        if self.parent_id is None:
            return
        parent_id, self.parent_id = self.parent_id, None
        os.environ.pop(PARENT_ENV, None)
        os.environ.pop(SWEPT_ENV, None)
        self.client.set_terminated(parent_id, status)
