"""The cores this process may use: what threads and parallel jobs are sized to."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores this process may run on (a cpuset or taskset narrows them)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on macOS or Windows
        return os.cpu_count() or 1
