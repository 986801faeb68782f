"""MLflow: where runs go, their life cycle, and what every epoch logs."""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from lrchain.errors import TrackingError

DEFAULT_URI = "sqlite:///mlflow.db"  # MLflow's own default, resolved in the launch folder
SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks")
MAX_PARAMS_PER_CALL = 100  # MLflow's limit for one log_batch
MAX_METRICS_PER_CALL = 1000
MAX_PARAM_VALUE = 6000  # MLflow's limit on a param value's length
MAX_KEY = 250  # MLflow's limit on a param key's length


def tracking_uri(configured: str | None, launch_dir: Path) -> str:
    """The tracking URI: config, else $MLFLOW_TRACKING_URI, else ./mlflow.db; made absolute."""
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI
    scheme = uri.split(":", 1)[0].split("+", 1)[0] if "://" in uri else ""
    if scheme not in SCHEMES:
        raise TrackingError(
            f"tracking.uri: {uri!r} is not a tracking URI MLflow can store runs in; use"
            " sqlite:///PATH/mlflow.db, http(s)://HOST:PORT or a database URI"
            f" ({', '.join(SCHEMES)})"
        )
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = "sqlite:///" + str((launch_dir / uri[len("sqlite:///") :]).resolve())
    return uri


@contextlib.contextmanager
def _working_dir(path: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


@contextlib.contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    """One process at a time opens a SQLite store: creating one in parallel corrupts it."""
    try:
        import fcntl
    except ImportError:  # not on Windows
        yield
        return
    if not uri.startswith("sqlite:///"):
        yield
        return
    folder = Path(uri[len("sqlite:///") :]).parent
    if not folder.is_dir():
        raise TrackingError(f"tracking.uri: the folder of {uri} does not exist; create it first")
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def limit_retries() -> None:
    """An unreachable server answers within seconds, not minutes of retries (unless set)."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")


def open_experiment(uri: str, name: str, launch_dir: Path) -> tuple[Any, str]:
    """A client for `uri` and the id of experiment `name`, created when missing."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    limit_retries()
    # A new store roots artifacts at ./mlruns, resolved when it opens: open it in the launch folder.
    with _working_dir(launch_dir), _store_lock(uri):
        try:
            client = MlflowClient(uri)
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                try:
                    return client, client.create_experiment(name)
                except MlflowException as refused:  # or created meanwhile by a parallel job
                    experiment = client.get_experiment_by_name(name)
                    if experiment is None:
                        raise TrackingError(
                            f"tracking.experiment: MLflow refuses the name {name!r}:"
                            f" {refused.message}"
                        ) from None
        except MlflowException as err:
            if uri.startswith("http") and "Max retries exceeded" in err.message:
                raise TrackingError(
                    f"tracking.uri: no tracking server answers at {uri}; start it (mlflow server"
                    " --host HOST --port PORT) or point tracking.uri / MLFLOW_TRACKING_URI at a"
                    " store that is up (the default is ./mlflow.db)"
                ) from None
            raise TrackingError(
                f"tracking: cannot use experiment {name!r} at {uri}: {err.message}"
            ) from None
        except TrackingError:
            raise
        except Exception as err:  # the database itself: locked, unreadable, full disk
            text = str(err).splitlines()[0]
            hint = (
                "another program holds the SQLite file locked: close it and try again"
                if "locked" in text
                else "check that the store exists, is writable and its disk has free space"
            )
            raise TrackingError(
                f"tracking: the store at {uri} cannot be used ({text}); {hint}"
            ) from None
    if experiment.lifecycle_stage == "deleted":
        raise TrackingError(
            f"tracking.experiment: {name!r} is deleted at {uri}; restore it with"
            f" `mlflow experiments restore --experiment-id {experiment.experiment_id}`"
            " or choose another name with tracking.experiment=NAME"
        )
    return client, experiment.experiment_id


def flatten(config: Any) -> dict[str, str]:
    """Dotted keys to string values (`{'optim': {'lr': 0.1}}` -> `{'optim.lr': '0.1'}`).

    Keys are made ones MLflow accepts (other characters become `_`, at most 250 long) and never
    collide: a key seen before gets `_2`, `_3`, ... The whole config stays in config.yaml.
    """
    flat: dict[str, str] = {}
    for raw, value in _pairs(config, ""):
        key = base = _param_key(raw)
        n = 2
        while key in flat:
            key = f"{base[: MAX_KEY - len(str(n)) - 1]}_{n}"
            n += 1
        flat[key] = value
    return flat


def _pairs(node: Any, prefix: str) -> Iterator[tuple[str, str]]:
    items = node.items() if isinstance(node, Mapping) else enumerate(node)
    for k, value in items:
        key = f"{prefix}{k}"
        if (isinstance(value, Mapping) and value) or _nested_list(value):
            yield from _pairs(value, f"{key}.")
        else:
            yield key, _text(value)


def _param_key(key: str) -> str:
    key = re.sub(r"[^\w.\- ]", "_", key)[:MAX_KEY]
    return f"_{key}"[:MAX_KEY] if not key or key.startswith(".") else key


def _nested_list(value: Any) -> bool:
    return isinstance(value, list) and any(isinstance(v, (Mapping, list)) for v in value)


def _text(value: Any) -> str:
    if isinstance(value, list):
        return json.dumps(value)
    return "{}" if isinstance(value, Mapping) else str(value)


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
            client.set_tag(run_id, "lrchain.params_truncated", ",".join(cut)[:MAX_PARAM_VALUE])
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
    entries += [Metric("lr_step", lr, now, first + i) for i, lr in enumerate(step_lrs)]
    for chunk in _chunks(entries, MAX_METRICS_PER_CALL):
        client.log_batch(run_id, metrics=chunk)


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


@contextlib.contextmanager
def run_status(end: Callable[[str, str | None], None]) -> Iterator[None]:
    """Call `end(status, traceback)`: FINISHED, KILLED on Ctrl-C, or FAILED with the traceback."""
    try:
        yield
    except KeyboardInterrupt:
        end("KILLED", None)
        raise
    except BaseException:
        end("FAILED", traceback.format_exc())
        raise
    end("FINISHED", None)
