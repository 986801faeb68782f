"""The Hydra task of `train.py`: one job of a run or a sweep, handed to lrchain.training."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Mapping
from pathlib import Path

from omegaconf import DictConfig

from lrchain.configs import plain
from lrchain.contract import VAL_LOSS
from lrchain.errors import ConfigError, TrackingError
from lrchain.sweep import FAILURE_FILE, read_sweep
from lrchain.training import Launch, train


def run_name(config: Mapping, overrides: list[str], swept: list[str]) -> str:
    """The configured name, else the schedule's, else the swept overrides when more than it vary."""
    if config["tracking"]["run_name"]:
        return str(config["tracking"]["run_name"])
    varying = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") in swept]
    if any(not o.startswith("sched=") for o in varying):
        return ",".join(varying)
    return str(config["sched"]["name"])


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
    launch = Launch(
        launch_dir=Path(hydra.runtime.cwd),
        overrides=overrides,
        name=run_name(config, overrides, sweep.get("swept", [])),
        parent_id=sweep.get("parent_run_id"),
        output_dir=output_dir,
    )
    try:
        return train(config, launch).metrics.get(VAL_LOSS)
    except (ConfigError, TrackingError) as err:
        message = str(err)
        if not in_sweep:
            raise SystemExit(f"lrchain: {message}") from None
    except Exception:
        if not in_sweep:
            raise
        message = traceback.format_exc()
    job = ",".join(overrides) or hydra.job.name
    print(f"[lrchain] job {job} failed:\n{message}", file=sys.stderr, flush=True)
    Path(hydra.runtime.output_dir, FAILURE_FILE).write_text(f"{job}\n{message}\n")
    return None
