"""Checkpoints kept with the run: written atomically each epoch, only the latest one kept."""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import torch

from lrchain.errors import TrackingError

ARTIFACT = "checkpoint/last.pt"  # the run's artifact path of its latest complete checkpoint


def save_atomic(state: dict, path: Path) -> None:
    """Write `state` to `path` so that a crash at any instant leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".last-", suffix=".pt.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load(path: Path) -> dict:
    """A checkpoint, read as plain tensors and containers only (never arbitrary objects)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise TrackingError(
            f"checkpoint {path} holds more than tensors and plain values; refused to load it"
            f" ({str(err).splitlines()[0]})"
        ) from None


def local_artifact_dir(artifact_uri: str) -> Path | None:
    """The folder behind a run's artifact URI when it is on this machine's disk."""
    parsed = urlparse(artifact_uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path))
    return None


def store(client: Any, run_id: str, artifact_uri: str, state: dict) -> None:
    """Keep `state` as the run's latest checkpoint: in place when local, else uploaded."""
    local = local_artifact_dir(artifact_uri)
    if local is not None:
        save_atomic(state, local / ARTIFACT)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(ARTIFACT).name
        save_atomic(state, path)
        client.log_artifact(run_id, str(path), str(Path(ARTIFACT).parent))


def fetch(client: Any, run_id: str, artifact_uri: str) -> dict | None:
    """The run's latest checkpoint, or None when it has none."""
    local = local_artifact_dir(artifact_uri)
    if local is not None:
        path = local / ARTIFACT
        return load(path) if path.exists() else None
    names = {a.path for a in client.list_artifacts(run_id, str(Path(ARTIFACT).parent))}
    if ARTIFACT not in names:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        return load(Path(client.download_artifacts(run_id, ARTIFACT, tmp)))
