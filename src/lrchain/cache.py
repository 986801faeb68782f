"""lrchain's cache: what is slow to make and the same each time, made once per machine.

The folder is LRCHAIN_CACHE, else $XDG_CACHE_HOME/lrchain, else ~/.cache/lrchain. Each file is
named for the versions of the packages that made it, and written whole (beside, then renamed),
so parallel jobs never read half of one. Anything in it may be deleted at any time: it is made
again when next needed. Nothing here is a result: runs log their data's source, not the cache.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib import metadata
from pathlib import Path


def folder() -> Path:
    """The cache folder (it may not exist yet)."""
    if os.environ.get("LRCHAIN_CACHE"):
        return Path(os.environ["LRCHAIN_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lrchain"


def versions(*packages: str) -> str:
    """`mlflow-3.17.2-sqlalchemy-2.1.9`: the installed versions, for a file's name."""
    return "-".join(f"{name}-{metadata.version(name)}" for name in packages)


def put(path: Path, write: Callable[[Path], None]) -> None:
    """`write(tmp)` beside `path`, then `tmp` becomes `path`, whole, whoever else writes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    making = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        write(making)
        making.replace(path)
    finally:
        making.unlink(missing_ok=True)
