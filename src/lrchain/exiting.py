"""A command that succeeded ends at once, after everything it wrote is flushed.

Python's normal exit joins the threads still running, runs every exit handler (MLflow's, the
log files' flush), then frees every module and object one by one: with torch, MLflow and
scikit-learn loaded that last part takes 1-2 s of a 2-core machine and protects no data. An
entry point calls `install()` first thing, so its handler runs after every other exit handler,
and `succeeded()` once its work is done: the handler then flushes the log files and the
console, and ends the process with status 0. A command that fails or is interrupted exits as
Python does, unchanged. LRCHAIN_FULL_EXIT=1 keeps Python's whole exit (a profiler, coverage).

A parallel launcher's worker (joblib's) is told to end when the sweep is done, and the launching
process waits for it: its tear-down used to add 2-3 s to every parallel sweep. Each job in a
worker runs inside `job()`, so a worker whose jobs all returned ends the same prompt way.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

_state = {"installed": False, "succeeded": False}


def install() -> None:
    """Call before the command's work registers exit handlers (MLflow's): this one runs after them.

    Handlers registered earlier are skipped after a success, but for logging's, which this one
    runs itself: install before importing anything that registers another.
    """
    if not _state["installed"]:
        _state["installed"] = True
        atexit.register(_end_now)


def succeeded() -> None:
    """The command did its work: end without the tear-down once Python's exit handlers ran."""
    _state["succeeded"] = True


@contextmanager
def job() -> Iterator[None]:
    """Around one job of a sweep: in a parallel launcher's worker, its exit after the sweep is a
    success while every job it ran has returned (a failed job that returned counts: lrchain
    recorded it). Elsewhere nothing changes: the command's own success is `succeeded()`.

    Enter before the job imports torch and MLflow: the handler must run after theirs.
    """
    import multiprocessing

    if multiprocessing.parent_process() is None:  # the launching process, or a submitit job
        yield
        return
    install()
    _state["succeeded"] = False  # an exit now, from inside a job, keeps Python's whole exit
    yield
    _state["succeeded"] = True


def _end_now() -> None:
    if not _state["succeeded"] or os.environ.get("LRCHAIN_FULL_EXIT") == "1":
        return
    logging.shutdown()  # Hydra's job logs: flushed and closed, as Python's exit would
    status = 0
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed pipe: Python's own exit says 120
            status = 120
    os._exit(status)
