"""Checkpoints: everything a resume needs, as plain tensors, written so a crash never tears one."""

from __future__ import annotations

import os
import pickle
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lrchain.errors import TrackingError

if TYPE_CHECKING:
    from lrchain.build import Parts


def state(parts: Parts, history: list[dict]) -> dict:
    """Everything needed to continue after the last epoch of `history`, as plain tensors.

    A copy on the CPU that training never changes: it can be written while training goes on,
    or after an interruption in the middle of the next epoch. The history's entries are never
    changed once appended, so a new list of them is enough (copying each entry at every epoch
    made a run's checkpoints cost the square of its epochs).
    """
    import torch

    saved = _copy(
        {
            "epoch": history[-1]["epoch"],
            "model": parts.model.state_dict(),
            "optimizer": parts.optimizer.state_dict(),
            "schedule": parts.schedule.state_dict(),
            "rngs": {name: g.get_state() for name, g in parts.rngs.items()},
            "torch_rng": torch.get_rng_state(),
        }
    )
    return saved | {"history": list(history)}


def _copy(value: Any) -> Any:
    """`value` with its tensors copied to the CPU and its containers new (metadata kept)."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, OrderedDict):  # a module's state_dict, with the versions it loads by
        copied = OrderedDict((key, _copy(item)) for key, item in value.items())
        if hasattr(value, "_metadata"):
            copied._metadata = value._metadata  # type: ignore[attr-defined]
        return copied
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_copy(item) for item in value)
    return value


def restore(parts: Parts, saved: dict) -> list[dict]:
    """Load a checkpoint into freshly built `parts`; return the epochs it holds."""
    import torch

    parts.model.load_state_dict(saved["model"])
    parts.optimizer.load_state_dict(saved["optimizer"])
    parts.schedule.load_state_dict(saved["schedule"])
    for name, generator in parts.rngs.items():
        generator.set_state(saved["rngs"][name])
    torch.set_rng_state(saved["torch_rng"])
    return saved["history"]


def save_atomic(saved: dict, path: Path) -> None:
    """Write `saved` to `path` so that a crash at any instant leaves the old file or the new one."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".last-", suffix=".pt.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(saved, handle)
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
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise TrackingError(
            f"checkpoint {path} holds more than tensors and plain values; refused to load it"
            f" ({str(err).splitlines()[0]})"
        ) from None
