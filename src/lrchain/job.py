"""The Hydra task of `train.py`: one job of a run or a sweep, handed to lrchain.training."""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from lrchain.configs import plain
from lrchain.contract import VAL_LOSS
from lrchain.engine import Diverged
from lrchain.errors import ConfigError, TrackingError
from lrchain.overrides import readable
from lrchain.search.trial import trial_of
from lrchain.sweep import FAILURE_FILE, launched_together, read_sweep
from lrchain.training import Launch, train


def run_name(config: Mapping, overrides: list[str], swept: list[str]) -> str:
    """The configured name, else the schedule's, else the swept overrides when more than it vary."""
    if config["tracking"]["run_name"]:
        return str(config["tracking"]["run_name"])
    varying = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") in swept]
    if any(not o.startswith("sched=") for o in varying):
        return ",".join(readable(o) for o in varying)
    return str(config["sched"]["name"])


def jobs_at_once(hydra: Any) -> int:
    """How many jobs of this sweep run at once on this host, sharing its cores (trainer.threads).

    lrchain's parallel launcher (the default) writes the count it chose into each job's
    `n_jobs`; the joblib launcher runs `n_jobs` at once (negative: counted back from the cores, as
    joblib does), never more than the sweep launches together; submitit's local launcher starts
    every job it is given at once (a batch: `hydra.sweeper.max_batch_size`). The basic launcher
    runs one at a time; on SLURM each job has cores of its own.
    """
    from lrchain.build import usable_cores

    launcher = hydra.launcher
    submitit_local = str(launcher.get("_target_", "")).endswith(".LocalLauncher")
    if launcher.get("n_jobs") is None and not submitit_local:
        return 1  # read nothing more: this runs before every job of a sweep
    together = sweep_size(Path(hydra.runtime.cwd) / hydra.sweep.dir)
    if submitit_local:
        return max(1, together or 1)
    n_jobs = int(launcher.n_jobs)
    at_once = n_jobs if n_jobs > 0 else max(1, usable_cores() + 1 + n_jobs)
    return max(1, min(at_once, together or at_once))


def sweep_size(sweep_dir: Path) -> int | None:
    """How many jobs the sweeper launches together, from the multirun.yaml it saved.

    Every job of a sweep asks; the file is parsed once per sweep (0.03 s a job before), and
    again only if it changed.
    """
    try:
        stamp = (sweep_dir / "multirun.yaml").stat().st_mtime_ns
    except OSError:  # no multirun.yaml: the launcher's count stands
        return None
    return _saved_sweep_size(sweep_dir, stamp)


@functools.lru_cache(maxsize=4)
def _saved_sweep_size(sweep_dir: Path, stamp: int) -> int | None:
    try:
        from omegaconf import OmegaConf

        saved = OmegaConf.load(sweep_dir / "multirun.yaml").hydra
    except Exception:  # unreadable: the launcher's count stands
        return None
    return launched_together(saved)


def main(cfg: DictConfig) -> float | None:
    """The Hydra task: a user error ends in one message; in a sweep a failure ends the job only."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra = HydraConfig.get()
    in_sweep = hydra.mode == RunMode.MULTIRUN
    config = plain(cfg)
    overrides = list(hydra.overrides.task)
    output_dir = Path(hydra.runtime.output_dir)
    sweep = read_sweep(output_dir) if in_sweep else {}
    trial = trial_of(output_dir, hydra.job.num) if in_sweep else None  # a schedule search's
    name = run_name(config, overrides, sweep.get("swept", []))
    launch = Launch(
        launch_dir=Path(hydra.runtime.cwd),
        overrides=overrides,
        name=f"#{trial.number} {name}" if trial else name,
        parent_id=sweep.get("parent_run_id"),
        tags=trial.tags if trial else {},
        output_dir=output_dir,
        jobs_at_once=jobs_at_once(hydra) if in_sweep else 1,
        after_epoch=trial.after_epoch if trial else None,
    )
    try:
        result = train(config, launch)
        if trial:
            trial.finish()
        return result.metrics.get(VAL_LOSS)
    except (ConfigError, TrackingError) as err:
        message = str(err)
        if not in_sweep:
            raise SystemExit(f"lrchain: {message}") from None
    except SystemExit as stop:
        # A scheduler stopping a submitit job (time limit, scancel): the run ended KILLED; the
        # job returns, so the sweep still compares and names it, instead of losing its result.
        if not (in_sweep and stop.code == 130 and os.environ.get("SUBMITIT_EXECUTOR")):
            raise
        message = "KILLED by the scheduler; its run continues with `lrchain resume RUN_ID`"
    except Exception as err:
        if not in_sweep:
            raise
        if trial and isinstance(err, Diverged):  # an outcome the search space allows: no failure
            print(f"[lrchain] trial {trial.number}: {err}", file=sys.stderr, flush=True)
            return None  # the sweeper tells the study it failed
        message = traceback.format_exc()
    job = ",".join(overrides) or hydra.job.name
    print(f"[lrchain] job {job} failed:\n{message}", file=sys.stderr, flush=True)
    Path(hydra.runtime.output_dir, FAILURE_FILE).write_text(f"{job}\n{message}\n")
    return None
