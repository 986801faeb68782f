"""Writing to a store: a new run with its config, each epoch's metrics, what a store missed."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from lrchain.contract import LR_STEP, TAG_PARAMS_TRUNCATED
from lrchain.errors import TrackingError
from lrchain.store.params import MAX_PARAM_VALUE
from lrchain.store.reading import logged_steps

MAX_PARAMS_PER_CALL = 100  # MLflow's limit for one log_batch
MAX_METRICS_PER_CALL = 1000


def start_run(
    client: Any,
    experiment_id: str,
    run_name: str,
    tags: Mapping[str, str],
    params: Mapping[str, str],
    texts: Mapping[str, str],
) -> str:
    """Create a RUNNING run with its tags, params and small text artifacts; return its id."""
    from mlflow.entities import Param
    from mlflow.exceptions import MlflowException

    try:
        run_id = client.create_run(experiment_id, run_name=run_name, tags=dict(tags)).info.run_id
    except MlflowException as err:
        raise TrackingError(
            f"tracking: MLflow refused the run {run_name!r}: {err.message}"
        ) from None
    try:
        cut = sorted(k for k, v in params.items() if len(v) > MAX_PARAM_VALUE)
        if cut:
            client.set_tag(run_id, TAG_PARAMS_TRUNCATED, ",".join(cut)[:MAX_PARAM_VALUE])
        entries = [Param(k, v[:MAX_PARAM_VALUE]) for k, v in params.items()]
        for chunk in _chunks(entries, MAX_PARAMS_PER_CALL):
            client.log_batch(run_id, params=chunk)
        for path, text in texts.items():
            client.log_text(run_id, text, path)
    except (MlflowException, OSError) as err:  # no half-written run is left behind
        with contextlib.suppress(Exception):
            client.delete_run(run_id)
        raise TrackingError(
            f"tracking: could not record the run's config in the store ({err}); check that the"
            " store and its artifact folder (mlruns/) exist, are writable and have free space"
        ) from None
    return run_id


def log_epoch(
    client: Any, run_id: str, epoch: int, metrics: Mapping[str, float], step_lrs: Sequence[float]
) -> None:
    """One epoch's metrics at step=epoch, and per-batch `lr_step` at step=global batch index."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    entries = [Metric(k, float(v), now, epoch) for k, v in metrics.items()]
    first = epoch * len(step_lrs)
    entries += [Metric(LR_STEP, lr, now, first + i) for i, lr in enumerate(step_lrs)]
    for chunk in _chunks(entries, MAX_METRICS_PER_CALL):
        client.log_batch(run_id, metrics=chunk)


def relog_missed(client: Any, run_id: str, epochs: Iterable[Mapping]) -> int:
    """Log the epochs (`{epoch, metrics, step_lrs}`) the store lacks; how many were missing."""
    logged = logged_steps(client, run_id)
    sent = 0
    for record in epochs:
        if record["epoch"] not in logged:
            log_epoch(client, run_id, record["epoch"], record["metrics"], record["step_lrs"])
            sent += 1
    return sent


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
