"""Section `logging`: one default run with tracking on and off, and the tracking calls' share."""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from harness import Plan, Row, Stat, empty_store

TITLE = "logging: a default run with tracking on and off"


class Stopwatch:
    """Adds up the seconds this thread spends inside the functions it wraps, nested calls once.

    Calls from other threads (the run's writer thread) are not counted here: they do not hold
    up training, but they take CPU from it, which `writer` counts (the thread's own clock).
    """

    def __init__(self) -> None:
        self.seconds, self.depth, self.thread = 0.0, 0, threading.get_ident()
        self.writer = 0.0  # CPU seconds of the run's writer thread, from start to end

    def wrap_writer(self, write: Callable) -> Callable:
        @functools.wraps(write)
        def timed(log):
            mark = time.thread_time()
            try:
                return write(log)
            finally:
                self.writer += time.thread_time() - mark

        return timed

    def wrap(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            if threading.get_ident() != self.thread:
                return fn(*args, **kwargs)
            self.depth += 1
            mark = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.depth -= 1
                if not self.depth:
                    self.seconds += time.perf_counter() - mark

        return timed


@contextlib.contextmanager
def timing_tracking(watch: Stopwatch) -> Iterator[None]:
    """Every MlflowClient method and lrchain's checkpoint writer, timed by `watch`.

    store.put_checkpoint writes through checkpoint.save_atomic, looked up on the module at each
    call, so wrapping it there counts every checkpoint once, local or uploaded. The copy of the
    state a checkpoint takes (checkpoint.state) and the training thread's waits for the writer
    thread (RunLog.wait: tags, the end) are counted too: they hold up training.
    """
    from mlflow import MlflowClient

    from lrchain import checkpoint
    from lrchain.spool import RunLog

    targets: list[tuple[object, str]] = [
        (MlflowClient, name)
        for name, fn in vars(MlflowClient).items()
        if callable(fn) and (not name.startswith("_") or name == "__init__")
    ]
    targets += [(checkpoint, "save_atomic"), (checkpoint, "state"), (RunLog, "wait")]
    saved = [(owner, name, getattr(owner, name)) for owner, name in targets]
    for owner, name, fn in saved:
        setattr(owner, name, watch.wrap(fn))
    write = RunLog._write
    RunLog._write = watch.wrap_writer(write)
    try:
        yield
    finally:
        for owner, name, fn in saved:
            setattr(owner, name, fn)
        RunLog._write = write


def tracked_run(cfg: dict, folder: Path) -> tuple[float, float]:
    """One run through lrchain.training into a fresh store in `folder`.

    Returns its wall time and the seconds spent in MLflow calls and checkpoint writes: on the
    training thread, plus the writer thread's CPU. Opening the store is not counted: a sweep
    does it once, before its jobs.
    """
    from lrchain import store, training

    shutil.copy(empty_store(), folder / "mlflow.db")
    uri = f"sqlite:///{folder}/mlflow.db"
    store.open_experiment(uri, cfg["tracking"]["experiment"], folder)
    settings = copy.deepcopy(cfg)
    settings["tracking"]["uri"] = uri
    launch = training.Launch(launch_dir=folder, output_dir=folder / "job")
    watch = Stopwatch()
    with timing_tracking(watch), contextlib.redirect_stdout(io.StringIO()):
        start = time.perf_counter()
        training.train(settings, launch)
        wall = time.perf_counter() - start
    return wall, watch.seconds + watch.writer


def untracked_run(cfg: dict, folder: Path) -> float:
    """The same run built as lrchain builds it, with nothing logged: its wall time."""
    from lrchain.build import build
    from lrchain.training import train_epochs

    start = time.perf_counter()
    train_epochs(cfg, build(cfg, folder), lambda *a: None)
    return time.perf_counter() - start


def logging_cost(cfg: dict, epochs: int, reps: int) -> tuple[Stat, Stat, Stat]:
    """Wall time of a default run with tracking on and off, and the tracking calls' share (%)."""
    cfg = copy.deepcopy(cfg)
    cfg["trainer"]["epochs"] = 1
    with tempfile.TemporaryDirectory(prefix="lrchain-bench-") as tmp:  # first-time imports
        tracked_run(cfg, Path(tmp))
    cfg["trainer"]["epochs"] = epochs
    on, off, share = [], [], []
    for rep in range(reps):
        with tempfile.TemporaryDirectory(prefix="lrchain-bench-") as tmp:
            if rep % 2:  # each goes first in half the pairs: neither gets the warmer machine
                off.append(untracked_run(cfg, Path(tmp)))
            wall, spent = tracked_run(cfg, Path(tmp))
            on.append(wall)
            share.append(100 * spent / wall)
            if not rep % 2:
                off.append(untracked_run(cfg, Path(tmp)))
    return Stat(on), Stat(off), Stat(share)


def rows(plan: Plan) -> list[Row]:
    # The on/off ratio is a few per cent, and two untracked runs in a row differ by up to 8%
    # here: ten alternating pairs for the target, five for the comparison.
    every = copy.deepcopy(plan.cfg)
    every["trainer"]["checkpoint_every"] = 0  # a checkpoint each epoch, as before it was timed
    result = []
    for cfg, how, reps in (
        (plan.cfg, "new defaults", 2 * plan.reps),
        (every, "checkpoint_every=0", plan.reps),
    ):
        on, off, share = logging_cost(cfg, plan.epochs, reps)
        figure = f"one run, {plan.epochs} epochs, tracking on vs off, {how} (s)"
        figure_share = (
            f"MLflow calls + checkpoints, {how}: the training thread's time in them"
            " + the writer thread's CPU (% of the run)"
        )
        target = how == "new defaults"
        result += [
            Row(
                figure,
                on,
                off,
                target="<= 1.03x" if target else "-",
                met=_ratio if target else None,
                paired=True,
            ),
            Row(
                figure_share,
                share,
                fmt=".1f",
                target="<= 3%" if target else "-",
                met=(lambda o, r: o <= 3) if target else None,
            ),
        ]
    return result


def _ratio(ours: float, ratio: float | None) -> bool:
    return ratio is not None and ratio <= 1.03
