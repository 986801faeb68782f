"""A new SQLite store, copied from a blank one that MLflow made once for its version.

MLflow creates a new SQLite store by running every schema migration since its first release:
about 2 s of CPU here, for every new folder (and every test). The first time on a machine,
lrchain lets MLflow create a store in its cache (lrchain.cache), named for the MLflow and
SQLAlchemy versions, and removes its Default experiment, whose artifact folder MLflow wrote as
an absolute path. Each new store is a copy of that file: MLflow then finds its tables at the
newest revision and adds the Default experiment itself, rooted in the store's folder, as it
does in a store it creates. Anything going wrong here (no cache folder, a full disk) leaves
MLflow to create the store as it always does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from pathlib import Path

from lrchain import cache


def blank_path() -> Path:
    """The blank store for the MLflow and SQLAlchemy installed here."""
    return cache.folder() / f"blank-{cache.versions('mlflow', 'sqlalchemy')}.db"


def copy_blank(target: Path) -> bool:
    """Put a blank store at `target` (which must not exist); False: MLflow creates it instead."""
    try:
        blank = blank_path()
        if not blank.exists():
            _make(blank)
        _place(blank, target)
    except Exception:
        return False
    return True


def _make(blank: Path) -> None:
    """MLflow creates a store; without its Default experiment, it becomes `blank`."""

    def create(making: Path) -> None:
        from mlflow import MlflowClient

        MlflowClient(f"sqlite:///{making}").search_experiments()
        with contextlib.closing(sqlite3.connect(making)) as db, db:
            db.execute("DELETE FROM experiments WHERE experiment_id = 0")

    cache.put(blank, create)


def _place(blank: Path, target: Path) -> None:
    """A copy of `blank` at `target`, whole: written beside it, then linked into place."""
    copying = target.with_name(f".{target.name}.{os.getpid()}")
    try:
        shutil.copyfile(blank, copying)
        os.link(copying, target)  # FileExistsError if a store appeared meanwhile: it stays
    finally:
        copying.unlink(missing_ok=True)
