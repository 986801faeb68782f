"""hydra/sweeper=schedule_search: its keys and defaults, registered in Hydra's ConfigStore.

Hydra imports this module at every start (its plugin scan): nothing heavy here.
"""

# ruff: noqa: UP006, UP035, UP045  (OmegaConf reads typing's forms on every Python lrchain runs on)
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from hydra.core.config_store import ConfigStore


def _sampler() -> Dict[str, Any]:
    return {"_target_": "optuna.samplers.TPESampler", "seed": 0, "n_startup_trials": 10}


def _pruner() -> Dict[str, Any]:
    return {"_target_": "optuna.pruners.MedianPruner", "n_startup_trials": 5, "n_warmup_steps": 1}


@dataclass
class ScheduleSearchConf:
    _target_: str = "hydra_plugins.lrchain_search.schedule_search.ScheduleSearch"
    _recursive_: bool = False  # sampler and pruner are built by the search, not by Hydra
    # the metric to optimise, reported every epoch: val/loss, val/acc or train/loss
    objective: str = "val/loss"
    # which epoch's value ranks a trial: best (its best epoch) or final (its last epoch)
    objective_epoch: str = "best"
    # minimize or maximize; null: maximize for val/acc, minimize for the losses
    direction: Optional[str] = None
    # trials this command runs; the same command again adds as many to the same study
    n_trials: int = 20
    # trials launched together, run in parallel by the launcher (hydra/launcher=joblib)
    n_jobs: int = 1
    # Optuna's study name; null: the command's overrides, so the same command continues it
    study_name: Optional[str] = None
    # Optuna's RDB storage URL; null: sqlite optuna.db beside mlflow.db
    storage: Optional[str] = None
    # how trials are drawn: any optuna.samplers class with its arguments (seeded: reproducible)
    sampler: Dict[str, Any] = field(default_factory=_sampler)
    # when a trial stops early: any optuna.pruners class (NopPruner: never), asked every epoch
    pruner: Dict[str, Any] = field(default_factory=_pruner)
    # the search space in config form, KEY: "interval(0.5,0.99)"; the command line adds to it
    params: Dict[str, str] = field(default_factory=dict)


ConfigStore.instance().store(
    group="hydra/sweeper", name="schedule_search", node=ScheduleSearchConf, provider="lrchain"
)
