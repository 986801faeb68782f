"""What every schedule check shares: the error, its message shape, and lists of milestones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lrchain.errors import ConfigError


class ScheduleError(ConfigError):
    """A schedule config that cannot be built; the message names the config path."""


def fail(path: str, message: str) -> ScheduleError:
    """The error for the config key at `path`: `path: what is wrong; allowed: what is`."""
    return ScheduleError(f"{path}: {message}")


def check_increasing(values: Any, path: str) -> list[int]:
    """`values` as a list of positive, strictly increasing whole numbers, or a ScheduleError."""
    allowed = "allowed: a list of positive, strictly increasing whole numbers"
    if not isinstance(values, Sequence) or isinstance(values, str) or not values:
        raise fail(path, f"got {values!r}; {allowed}")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise fail(path, f"got {list(values)!r}, not whole numbers; {allowed}")
    if any(b <= a for a, b in zip(values, values[1:], strict=False)) or values[0] <= 0:
        raise fail(path, f"got {list(values)!r}; {allowed}")
    return list(values)
