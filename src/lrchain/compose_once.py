"""Each job's config of a sweep composed once, not twice, where the jobs run in this process.

Hydra's sweepers compose every job's config to check a batch before launching it
(`Sweeper.validate_batch_is_legal`: a bad job stops the sweep before any job runs); the launcher
then composes the same config again to run the job. Composing reads and merges ~50 YAML nodes:
0.10-0.14 s here, twice per job, most of a sweep's cost per added job. With the basic launcher
and lrchain's parallel one (which forks each job after composing it) both happen in this
process, with the same loader, master config and overrides, so the composition is the same:
the first call's result is kept (a copy, 0.01 s) and handed to the next call with the same
overrides, once. The check still composes and fails as before. Launchers that compose in other
processes (joblib's workers) or pickle the loader to their jobs (submitit, SLURM) are left
alone: the kept configs would travel with every job.
"""

from __future__ import annotations

import copy
from typing import Any

# Launchers that compose every job in this process: Hydra's basic one, and lrchain's, which then
# forks each job with its config (lrchain.parallel).
IN_THIS_PROCESS = (".BasicLauncher", ".ParallelLauncher")


def install(config: Any) -> bool:
    """Compose each job of the sweep `config` once if its launcher runs them here; whether done."""
    if not str(config.hydra.launcher.get("_target_", "")).endswith(IN_THIS_PROCESS):
        return False
    from hydra.core.global_hydra import GlobalHydra

    loader = getattr(getattr(GlobalHydra.instance(), "hydra", None), "config_loader", None)
    compose = getattr(loader, "load_sweep_config", None)
    if compose is None or getattr(compose, "kept", None) is not None:  # unknown, or done
        return False
    loader.load_sweep_config = KeepOne(compose)  # this loader only, this process only
    return True


class KeepOne:
    """`load_sweep_config` that keeps a copy of what it composed for the next identical call."""

    def __init__(self, compose: Any) -> None:
        self.compose = compose
        self.kept: dict[tuple, Any] = {}

    def __call__(self, master_config: Any, sweep_overrides: list[str]) -> Any:
        key = (id(master_config), tuple(sweep_overrides))
        if key in self.kept:
            return self.kept.pop(key)  # nobody else holds it: the caller may change it
        composed = self.compose(master_config, sweep_overrides)
        self.kept[key] = copy.deepcopy(composed)
        return composed
