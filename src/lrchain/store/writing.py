"""Writing to a store: a new run with its config, each epoch's metrics, what a store missed."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from lrchain.contract import LR_STEP, TAG_PARAMS_TRUNCATED
from lrchain.errors import TrackingError
from lrchain.store.artifacts import put_texts
from lrchain.store.params import MAX_PARAM_VALUE

MAX_PARAMS_PER_CALL = 100  # MLflow's limit for one log_batch
MAX_METRICS_PER_CALL = 1000


def start_run(
    client: Any,
    experiment_id: str,
    run_name: str,
    tags: Mapping[str, str],
    params: Mapping[str, str],
    texts: Mapping[str, str],
) -> tuple[str, str]:
    """Create a RUNNING run with its tags, params and small text artifacts; its id, artifact URI."""
    from mlflow.entities import Param
    from mlflow.exceptions import MlflowException

    try:
        info = client.create_run(experiment_id, run_name=run_name, tags=dict(tags)).info
    except MlflowException as err:
        raise TrackingError(
            f"tracking: MLflow refused the run {run_name!r}: {err.message}"
        ) from None
    run_id = info.run_id
    try:
        cut = sorted(k for k, v in params.items() if len(v) > MAX_PARAM_VALUE)
        if cut:
            client.set_tag(run_id, TAG_PARAMS_TRUNCATED, ",".join(cut)[:MAX_PARAM_VALUE])
        entries = [Param(k, v[:MAX_PARAM_VALUE]) for k, v in params.items()]
        for chunk in _chunks(entries, MAX_PARAMS_PER_CALL):
            client.log_batch(run_id, params=chunk)
        put_texts(client, run_id, info.artifact_uri, texts)
    except (MlflowException, OSError) as err:  # no half-written run is left behind
        with contextlib.suppress(Exception):
            client.delete_run(run_id)
        raise TrackingError(
            f"tracking: could not record the run's config in the store ({err}); check that the"
            " store and its artifact folder (mlruns/) exist, are writable and have free space"
        ) from None
    return run_id, info.artifact_uri


Point = tuple[str, int, float]  # (metric, step, value)


def epoch_points(
    epoch: int, metrics: Mapping[str, float], step_lrs: Sequence[float]
) -> list[Point]:
    """What one epoch logs: its metrics at step=epoch, per-batch `lr_step` at the global batch."""
    first = epoch * len(step_lrs)
    points = [(key, epoch, float(value)) for key, value in metrics.items()]
    return points + [(LR_STEP, first + i, float(lr)) for i, lr in enumerate(step_lrs)]


def log_points(client: Any, run_id: str, points: Sequence[Point]) -> None:
    """Log `points`, a thousand per request, per-batch `lr_step` first.

    A request is all or nothing; a process killed between two leaves part of the points in the
    store, which `relog_missed` (and a resume) completes point by point, none twice.
    """
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    entries = [Metric(key, value, now, step) for key, step, value in points]
    entries.sort(key=lambda m: m.key != LR_STEP)  # stable: lr_step first, then the epoch's
    for chunk in _chunks(entries, MAX_METRICS_PER_CALL):
        client.log_batch(run_id, metrics=chunk)


def log_epoch(
    client: Any, run_id: str, epoch: int, metrics: Mapping[str, float], step_lrs: Sequence[float]
) -> None:
    """One epoch's metrics at step=epoch, and per-batch `lr_step` at step=global batch index."""
    log_points(client, run_id, epoch_points(epoch, metrics, step_lrs))


def logged_points(client: Any, run_id: str, keys: Iterable[str]) -> dict[str, dict[int, float]]:
    """What the store holds of the run's metrics `keys`: key -> step -> value."""
    return {key: {m.step: m.value for m in client.get_metric_history(run_id, key)} for key in keys}


def relog_missed(client: Any, run_id: str, epochs: Iterable[Mapping]) -> int:
    """Log what the store lacks of `epochs` (`{epoch, metrics, step_lrs}`), each point once.

    Returns how many of the epochs lacked something.
    """
    wanted = [epoch_points(r["epoch"], r["metrics"], r["step_lrs"]) for r in epochs]
    logged = logged_points(client, run_id, {key for points in wanted for key, _, _ in points})
    missing = [[p for p in points if p[1] not in logged[p[0]]] for points in wanted]
    log_points(client, run_id, [p for points in missing for p in points])
    return sum(1 for points in missing if points)


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
