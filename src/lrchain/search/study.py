"""The sweeper's side of a search: the study opened, trials asked in batches, launched, settled."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrchain.contract import MONITORED, VAL_ACC
from lrchain.errors import ConfigError
from lrchain.search.space import Space, parse
from lrchain.search.trial import open_storage, write_search

DIRECTIONS = ("minimize", "maximize")
EPOCHS = ("best", "final")
MAX_NAME = 200  # a longer default study name (the command line) is shortened with its hash


@dataclass
class Settings:
    """hydra.sweeper's keys, checked (conf: hydra_plugins.lrchain_search.config)."""

    objective: str
    objective_epoch: str
    direction: str
    n_trials: int
    n_jobs: int
    study_name: str | None
    storage: str | None
    sampler: dict[str, Any]
    pruner: dict[str, Any]
    params: dict[str, str]


def settings_of(sweeper: Mapping[str, Any]) -> Settings:
    """The sweeper's config as Settings; a wrong value is named with what is allowed."""
    objective = str(sweeper["objective"])
    if objective not in MONITORED:
        raise ConfigError(
            f"hydra.sweeper.objective: {objective!r} is not logged every epoch;"
            f" allowed: {', '.join(MONITORED)}"
        )
    direction = sweeper.get("direction") or ("maximize" if objective == VAL_ACC else "minimize")
    epoch = str(sweeper["objective_epoch"])
    for key, value, allowed in (
        ("direction", direction, DIRECTIONS),
        ("objective_epoch", epoch, EPOCHS),
    ):
        if value not in allowed:
            raise ConfigError(f"hydra.sweeper.{key}: {value!r}; allowed: {', '.join(allowed)}")
    for key in ("n_trials", "n_jobs"):
        value = sweeper[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"hydra.sweeper.{key}: {value!r}; allowed: a whole number, 1 or more")
    return Settings(
        objective=objective,
        objective_epoch=epoch,
        direction=direction,
        n_trials=int(sweeper["n_trials"]),
        n_jobs=int(sweeper["n_jobs"]),
        study_name=sweeper.get("study_name"),
        storage=sweeper.get("storage"),
        sampler=dict(sweeper["sampler"]),
        pruner=dict(sweeper["pruner"]),
        params={str(k): str(v) for k, v in (sweeper.get("params") or {}).items()},
    )


def default_storage(tracking_uri: str, launch_dir: Path) -> str:
    """optuna.db beside the MLflow store's SQLite file, else in the launch folder."""
    from lrchain import store

    database = store.sqlite_file(tracking_uri)
    folder = database.parent if database is not None else launch_dir
    return f"sqlite:///{(folder / 'optuna.db').resolve()}"


def default_study_name(arguments: list[str]) -> str:
    """The command's overrides, sorted: the same command continues the same study."""
    name = " ".join(sorted(a for a in arguments if not a.startswith("hydra.")))
    if len(name) > MAX_NAME:
        name = f"{name[: MAX_NAME - 13]}... {hashlib.sha1(name.encode()).hexdigest()[:8]}"
    return name or "schedule_search"


def shown(storage: str) -> str:
    """The storage URL as logged and printed: any password hidden."""
    from sqlalchemy.engine import make_url

    return make_url(storage).render_as_string(hide_password=True)


@dataclass
class Search:
    """An open study and what this invocation asks of it."""

    settings: Settings
    space: Space
    study: Any
    storage: str
    first: int  # the number of this invocation's first trial (a continued study: > 0)


def open_search(
    settings: Settings, arguments: list[str], tracking_uri: str, launch_dir: Path
) -> Search:
    """The study of this command, created or continued; its sampler seeded for reproducibility.

    A continued study's sampler is seeded with seed + the trials it holds, so that it does not
    draw the first invocation's random start-up trials again.
    """
    import optuna
    from hydra.utils import instantiate

    given = [f"{key}={value}" for key, value in settings.params.items()]
    space = parse([*given, *arguments])
    storage = settings.storage or default_storage(tracking_uri, launch_dir)
    name = settings.study_name or default_study_name([*given, *arguments])
    rdb = open_storage(storage)
    try:
        held = len(optuna.load_study(study_name=name, storage=rdb).trials)
    except KeyError:  # no such study yet
        held = 0
    sampler = dict(settings.sampler)
    if sampler.get("seed") is not None:
        sampler["seed"] = int(sampler["seed"]) + held
    study = optuna.create_study(
        storage=rdb,
        study_name=name,
        direction=settings.direction,
        sampler=instantiate(sampler),
        load_if_exists=True,
    )
    if study.direction.name.lower() != settings.direction:
        raise ConfigError(
            f"hydra.sweeper.direction: {settings.direction}, but study {name!r} in {shown(storage)}"
            f" was created to {study.direction.name.lower()}; give another study_name"
        )
    return Search(settings, space, study, storage, held)


def run_trials(search: Search, sweeper: Any, folder: Path) -> list:
    """n_trials trials in batches of n_jobs, each batch launched by Hydra's launcher."""
    settings = search.settings
    info = {
        "study": search.study.study_name,
        "storage": search.storage,
        "objective": settings.objective,
        "objective_epoch": settings.objective_epoch,
        "direction": settings.direction,
        "pruner": settings.pruner,
        "trials": {},
    }
    returns, job = [], 0
    while job < settings.n_trials:
        size = min(settings.n_jobs, settings.n_trials - job)
        trials = [search.study.ask(search.space.distributions) for _ in range(size)]
        batch = [search.space.overrides(trial.params) for trial in trials]
        for offset, trial in enumerate(trials):
            info["trials"][str(job + offset)] = [trial.number, trial._trial_id]
        write_search(folder, info)
        try:
            sweeper.validate_batch_is_legal(batch)
            returns.append(sweeper.launcher.launch(batch, initial_job_idx=job))
        finally:  # a job that died without telling the study: FAIL, not RUNNING for ever
            settle(search.study, [t.number for t in trials], settings.objective)
        job += size
    return returns


def settle(study: Any, numbers: list[int], objective: str) -> None:
    """Tell FAIL for each trial of `numbers` left RUNNING; print each trial's outcome."""
    from optuna.trial import TrialState

    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    for number in numbers:
        if trials[number].state == TrialState.RUNNING:
            study.tell(number, state=TrialState.FAIL)
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    for number in numbers:
        print(f"[lrchain] {outcome(trials[number], objective)}", flush=True)


def outcome(trial: Any, objective: str) -> str:
    """`trial 3: val/loss 0.0712`, `trial 4: pruned after epoch 2`, `trial 5: failed`."""
    state = trial.state.name
    if state == "COMPLETE":
        return f"trial {trial.number}: {objective} {trial.value:.4g}"
    if state == "PRUNED":
        return f"trial {trial.number}: pruned after epoch {len(trial.intermediate_values)}"
    return f"trial {trial.number}: {state.lower().replace('fail', 'failed')}"
