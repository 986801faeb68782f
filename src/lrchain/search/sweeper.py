"""A schedule search from start to end, as Hydra's sweeper runs it in the launching process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from lrchain.errors import ConfigError
from lrchain.search.study import Search, open_search, run_trials, settings_of, shown

TARGET = "hydra_plugins.lrchain_search.schedule_search.ScheduleSearch"


def is_search(config: DictConfig) -> bool:
    """Whether `config` sweeps with lrchain's schedule search."""
    return str(config.hydra.sweeper.get("_target_", "")) == TARGET


def check(config: DictConfig) -> None:
    """The sweeper's keys and the search space, checked before the sweep's parent run exists.

    Hydra only warns about an exception in a callback: every error ends the command here.
    """
    from omegaconf import OmegaConf

    from lrchain.search.space import parse

    try:
        settings = settings_of(OmegaConf.to_container(config.hydra.sweeper, resolve=True))
        given = [f"{key}={value}" for key, value in settings.params.items()]
        parse([*given, *config.hydra.overrides.task])
        check_param_keys(config, given)
        for key in ("sampler", "pruner"):
            built(key, getattr(settings, key))
    except ConfigError as err:
        raise SystemExit(f"lrchain: {err}") from None
    except Exception as err:
        raise SystemExit(f"lrchain: the search cannot start: {type(err).__name__}: {err}") from None


def built(key: str, spec: dict[str, Any]) -> Any:
    """hydra.sweeper.KEY (sampler, pruner) instantiated; its mistake named with the key."""
    from hydra.utils import instantiate

    try:
        return instantiate(spec)
    except Exception as err:
        cause = err.__cause__ or err  # Hydra wraps the class's own error
        raise ConfigError(f"hydra.sweeper.{key}: {type(cause).__name__}: {cause}") from None


def check_param_keys(config: DictConfig, given: list[str]) -> None:
    """The keys of hydra.sweeper.params, in the config (train.py checks the command line's).

    Keys below a group the search varies (sched=step,exp) may exist for some choices only.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    from lrchain.overrides import check_keys

    parser = OverridesParser.create()
    groups = set(config.hydra.runtime.choices)
    every = parser.parse_overrides([*given, *config.hydra.overrides.task])
    varied = {o.key_or_group for o in every if o.is_sweep_override() and o.key_or_group in groups}
    keys = [
        o.key_or_group
        for o in parser.parse_overrides(given)
        if not (o.is_add() or o.is_delete() or o.is_force_add())
        and o.key_or_group not in groups
        and o.key_or_group.split(".")[0] not in varied
    ]
    job = OmegaConf.masked_copy(config, [k for k in config if k != "hydra"])
    try:
        check_keys(keys, OmegaConf.to_container(job, resolve=True))
    except ConfigError as err:
        raise ConfigError(f"hydra.sweeper.params: {err}") from None


def open_for(config: DictConfig, arguments: list[str]) -> Search:
    """The search `config` and the command line ask for; its mistakes end the command."""
    from omegaconf import OmegaConf

    from lrchain import store
    from lrchain.sweep import read_sweep, runs_on_this_host, sweep_dir

    launch_dir = Path(config.hydra.runtime.cwd)
    uri = read_sweep(sweep_dir(config)).get("tracking_uri")
    try:
        settings = settings_of(OmegaConf.to_container(config.hydra.sweeper, resolve=True))
        search = open_search(
            settings,
            arguments,
            uri or store.resolve_uri(config.tracking.uri, launch_dir),
            launch_dir,
        )
    except ConfigError as err:
        raise SystemExit(f"lrchain: {err}") from None
    if search.storage.startswith("sqlite") and not runs_on_this_host(config.hydra.launcher):
        raise SystemExit(
            f"lrchain: hydra.sweeper.storage: {shown(search.storage)} is a SQLite file, which jobs"
            " on other hosts cannot share; give a database server's URL"
            " (hydra.sweeper.storage=postgresql+psycopg2://USER@HOST/DB)"
        )
    return search


def sweep(sweeper: Any, arguments: list[str]) -> list:
    """Open the study, run n_trials in batches, then record the study in the sweep's parent."""
    from lrchain.search.report import announce, record
    from lrchain.sweep import read_sweep, sweep_dir

    config = sweeper.config
    search = open_for(config, arguments)
    folder = sweep_dir(config)
    shared = read_sweep(folder)  # the parent run SweepCallback created, and its store
    parent_id, client = shared.get("parent_run_id"), None
    if parent_id is not None:
        from mlflow import MlflowClient

        client = MlflowClient(shared["tracking_uri"])
        announce(client, parent_id, search)
    settings = search.settings
    print(
        f"[lrchain] study {search.study.study_name!r} in {shown(search.storage)}:"
        f" trials {search.first} to {search.first + settings.n_trials - 1},"
        f" {settings.n_jobs} at a time, {settings.direction} {settings.objective}"
        f" ({settings.objective_epoch} epoch)",
        flush=True,
    )
    returns = run_trials(search, sweeper, folder)
    record(client, parent_id, search, folder, int(config.trainer.epochs))
    return returns
