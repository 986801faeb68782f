"""Opening a store: one retry policy, one lock for SQLite, one message per way it can fail."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lrchain.errors import TrackingError
from lrchain.store.uri import sqlite_file

# MLflow reads its HTTP retry policy from the environment at every request, and takes it from
# nowhere else (3.17.2): one policy for every lrchain command, set where a store is opened. An
# unreachable server answers within seconds, not minutes; the user's own settings win.
HTTP_POLICY = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}


def connect(uri: str) -> Any:
    """A client of the store at `uri` (nothing is read yet)."""
    from mlflow import MlflowClient

    for key, value in HTTP_POLICY.items():
        os.environ.setdefault(key, value)
    return MlflowClient(uri)


def open_existing(uri: str) -> Any:
    """A client of a store that must exist already: a missing SQLite file is an error."""
    path = sqlite_file(uri)
    if path is not None and not path.is_file():
        raise TrackingError(
            f"no MLflow store at {uri}; run where train.py was launched or pass --tracking-uri"
        )
    return connect(uri)


def open_experiment(uri: str, name: str, launch_dir: Path) -> tuple[Any, str]:
    """A client of `uri` and the id of experiment `name`, both created when missing."""
    from mlflow.exceptions import MlflowException

    path = sqlite_file(uri)
    with _artifacts_rooted_in(launch_dir, uri), _store_lock(uri):
        if path is not None and not path.exists():
            _create_sqlite(path)
        try:
            client = connect(uri)
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                try:
                    return client, client.create_experiment(name)
                except MlflowException as refused:  # or created meanwhile by a parallel job
                    experiment = client.get_experiment_by_name(name)
                    if experiment is None:
                        raise TrackingError(
                            f"tracking.experiment: MLflow refuses the name {name!r}"
                            f" ({refused.message}); allowed: a non-empty name"
                        ) from None
        except MlflowException as err:
            raise _unusable(uri, name, err.message) from None
        except TrackingError:
            raise
        except Exception as err:  # the database itself: locked, unreadable, full disk
            raise _broken(uri, str(err).splitlines()[0]) from None
    if experiment.lifecycle_stage == "deleted":
        raise TrackingError(
            f"tracking.experiment: {name!r} is deleted at {uri}; restore it with"
            f" `mlflow experiments restore --experiment-id {experiment.experiment_id}`"
            " or choose another name with tracking.experiment=NAME"
        )
    return client, experiment.experiment_id


def _create_sqlite(path: Path) -> None:
    """A new SQLite store at `path`: a copy of a blank one (lrchain.store.blank), else MLflow's."""
    from lrchain.store.blank import blank_path, copy_blank

    if blank_path().exists() and copy_blank(path):
        print(f"[lrchain] new store {path}", flush=True)
        return
    first = "a few seconds: the first store on this machine"
    print(f"[lrchain] creating the store {path} ({first})", flush=True)
    copy_blank(path)  # makes the blank store first; False: MLflow creates this one itself


def _unusable(uri: str, name: str, message: str) -> TrackingError:
    if uri.startswith("http") and "Max retries exceeded" in message:
        return TrackingError(
            f"tracking.uri: no tracking server answers at {uri}; start it (mlflow server"
            " --host HOST --port PORT) or point tracking.uri / MLFLOW_TRACKING_URI at a"
            " store that is up (the default is ./mlflow.db)"
        )
    return TrackingError(f"tracking: cannot use experiment {name!r} at {uri}: {message}")


def _broken(uri: str, text: str) -> TrackingError:
    hint = (
        "another program holds the SQLite file locked: close it and try again"
        if "locked" in text
        else "check that the store exists, is writable and its disk has free space"
    )
    return TrackingError(f"tracking: the store at {uri} cannot be used ({text}); {hint}")


@contextlib.contextmanager
def _artifacts_rooted_in(folder: Path, uri: str) -> Iterator[None]:
    """Open a SQLite store from `folder`, so that its new experiments keep artifacts there.

    MLflow roots a SQLite store's artifacts at ./mlruns of the folder the process is in when it
    first opens that store, and takes no argument for it (3.17.2). train.py opens the store in
    the launch folder before Hydra may change folder, so this changes folder only for a store
    opened first from elsewhere, for the few calls that open it, and changes it back.
    """
    if sqlite_file(uri) is None or Path.cwd() == folder.resolve():
        yield
        return
    previous = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


@contextlib.contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    """One process at a time opens a SQLite store: creating one in parallel corrupts it."""
    path = sqlite_file(uri)
    try:
        import fcntl
    except ImportError:  # not on Windows
        path = None
    if path is None:
        yield
        return
    if not path.parent.is_dir():
        raise TrackingError(f"tracking.uri: the folder of {uri} does not exist; create it first")
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def unreachable() -> tuple[type[BaseException], ...]:
    """The errors that mean the store did not take a write (down, refusing, disk full)."""
    from mlflow.exceptions import MlflowException
    from requests.exceptions import RequestException

    return (MlflowException, RequestException, OSError)


def release_connections(uri: str) -> None:
    """Close this process's idle database connections to `uri` before it forks jobs.

    MLflow keeps one store per URI in a process, with a pool of open connections; a forked
    process would inherit that pool, and two processes must never use one SQLite or PostgreSQL
    connection. Closed here, each process opens its own when it next needs one. A server's
    store (http) holds no database connection: nothing to do. Reaches the store through the
    client's `_tracking_client.store` (MLflow 3.17.2, as lrchain.store.reading does).
    """
    store = getattr(getattr(connect(uri), "_tracking_client", None), "store", None)
    engine = getattr(store, "engine", None)
    if engine is not None:
        engine.dispose()
