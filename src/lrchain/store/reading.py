"""Reading a store: runs by id, by sweep or by experiment, and metric histories in bulk."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lrchain.contract import CURVES, LR, TAG_PARENT, TAG_SWEEP
from lrchain.errors import ConfigError, TrackingError

PAGE = 1000  # runs per search_runs call
BULK_RUNS = 200  # run ids per bulk metric query (SQL parameter limits)
READERS = 8  # parallel requests to a tracking server

History = list[tuple[int, float]]  # (step, value) by step


def get_run(client: Any, run_id: str) -> Any:
    """The run `run_id`, or an error naming it."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException as err:
        if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise ConfigError(
                f"run {run_id!r} not found at {client.tracking_uri}; check the id, or pass"
                " --tracking-uri for the store that holds it"
            ) from None
        raise TrackingError(f"cannot read run {run_id!r}: {err.message}") from None


def search(client: Any, experiment_ids: list[str], filter_string: str = "") -> list:
    """Every active run matching `filter_string`, page by page, oldest first."""
    runs, token = [], None
    while True:
        page = client.search_runs(experiment_ids, filter_string, max_results=PAGE, page_token=token)
        runs += list(page)
        token = page.token
        if not token:
            return sorted(runs, key=lambda r: r.info.start_time)


def children_of(client: Any, parent_id: str) -> list:
    """The child runs of a sweep's parent run (none when every job failed before logging)."""
    parent = get_run(client, parent_id)
    return search(client, [parent.info.experiment_id], f"tags.{TAG_PARENT} = '{parent_id}'")


def runs_of_experiment(client: Any, name: str) -> list:
    """Every run of experiment `name`, less the sweeps' parent runs (they log no metrics)."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        known = sorted(e.name for e in client.search_experiments())
        raise ConfigError(
            f"--experiment: no experiment {name!r} in this store; allowed: {', '.join(known)}"
        )
    runs = [r for r in search(client, [experiment.experiment_id]) if not is_sweep(r)]
    if not runs:
        raise ConfigError(f"--experiment: experiment {name!r} has no runs to compare")
    return runs


def runs_by_id(client: Any, run_ids: Sequence[str]) -> list:
    """The runs named by id, in the order given, duplicates dropped."""
    return [get_run(client, run_id) for run_id in dict.fromkeys(run_ids)]


def is_sweep(run: Any) -> bool:
    """Whether `run` is a sweep's parent run."""
    return run.data.tags.get(TAG_SWEEP) == "true"


def histories(
    client: Any, run_ids: Sequence[str], keys: Iterable[str] = CURVES
) -> dict[str, dict[str, History]]:
    """run id -> metric key -> [(step, value)], by step; the last value logged wins a step."""
    keys = list(keys)
    found: dict[str, dict[str, list]] = {run_id: {key: [] for key in keys} for run_id in run_ids}
    bulk = sql_bulk_reader(client)
    if bulk is not None:
        for key in keys:
            for i in range(0, len(run_ids), BULK_RUNS):
                chunk = list(run_ids[i : i + BULK_RUNS])
                for item in bulk(chunk, key, max_results=2**31 - 1):
                    found[item.run_id][key].append(item)
    else:  # a tracking server: one call per run and key, a few at a time
        pairs = [(run_id, key) for run_id in run_ids for key in keys]
        with ThreadPoolExecutor(max_workers=READERS) as pool:
            results = pool.map(lambda p: client.get_metric_history(*p), pairs)
            for (run_id, key), metrics in zip(pairs, results, strict=True):
                found[run_id][key] = list(metrics)
    return {
        run_id: {key: _by_step(metrics) for key, metrics in per_key.items()}
        for run_id, per_key in found.items()
    }


def sql_bulk_reader(client: Any) -> Any:
    """The SQL store's `get_metric_history_bulk(run_ids, key, max_results)`, or None.

    MLflow has no public call that reads one metric of many runs at once; its SQL store has
    this method (checked against MLflow 3.17.2, tested in tests/test_store.py). With it, 500
    runs are read in a few queries instead of 2,000.
    """
    store = getattr(getattr(client, "_tracking_client", None), "store", None)
    return getattr(store, "get_metric_history_bulk", None)


def _by_step(metrics: list) -> History:
    latest = {}
    for m in sorted(metrics, key=lambda m: (m.timestamp, m.step)):
        latest[m.step] = m.value
    return sorted(latest.items())


def logged_steps(client: Any, run_id: str, key: str = LR) -> set[int]:
    """The steps at which `key` is logged for the run."""
    return {m.step for m in client.get_metric_history(run_id, key)}


def read_text(client: Any, run_id: str, path: str) -> str:
    """The text of the run's artifact `path`."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = client.download_artifacts(run_id, path, tmp)
        except Exception as err:
            raise TrackingError(f"run {run_id} has no {path} artifact: {err}") from None
        return Path(local).read_text()
