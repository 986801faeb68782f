"""Which store: the tracking URI from the config, the environment or the default, checked."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from lrchain.errors import TrackingError

DEFAULT_URI = "sqlite:///mlflow.db"  # MLflow's own default, resolved in the launch folder
SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks")
SQLITE = "sqlite:///"


ALLOWED = f"sqlite:///PATH/mlflow.db, http(s)://HOST:PORT or a database URI ({', '.join(SCHEMES)})"


def is_tracking_uri(uri: str) -> bool:
    """Whether `uri` names a store MLflow can keep runs in."""
    scheme = uri.split(":", 1)[0].split("+", 1)[0] if "://" in uri else ""
    return scheme in SCHEMES


def resolve_uri(configured: str | None, launch_dir: Path) -> str:
    """The tracking URI: `configured`, else $MLFLOW_TRACKING_URI, else ./mlflow.db; absolute."""
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI
    if not is_tracking_uri(uri):
        where = "tracking.uri" if configured else "MLFLOW_TRACKING_URI"
        raise TrackingError(
            f"{where}: {uri!r} is not a tracking URI MLflow can store runs in; allowed: {ALLOWED}"
        )
    path = sqlite_file(uri)
    if path is not None and not path.is_absolute():
        uri = SQLITE + str((launch_dir / path).resolve())
    return uri


def sqlite_file(uri: str) -> Path | None:
    """The database file of a SQLite URI; None for any other store."""
    return Path(uri[len(SQLITE) :]) if uri.startswith(SQLITE) else None


def add_uri_argument(parser: argparse.ArgumentParser) -> None:
    """The `--tracking-uri` option every command that reads a store takes."""
    parser.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="the store (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)",
    )
