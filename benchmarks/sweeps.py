"""Sections `sweep` and `growth`: `train.py -m` against benchmarks/plain_sweep.py, end to end."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from harness import ROOT, Plan, Row, Stat, launch_folder, timed_run

SWEEP_TITLE = "default sweep: lrchain and the plain script"
GROWTH_TITLE = "growth: sweeps of 3, 12 and 48 one-epoch jobs"


def epoch_seconds(folder: Path) -> float:
    """The training time the runs of `folder`'s store report: the sum of their epoch_seconds."""
    with contextlib.closing(sqlite3.connect(folder / "mlflow.db")) as db:
        (total,) = db.execute("SELECT SUM(value) FROM metrics WHERE key='epoch_seconds'").fetchone()
    return total or 0.0


def runs_span(folder: Path) -> float:
    """Seconds from the first run's start to the last run's end in `folder`'s store, a sweep's
    parent run left out: the part of a sweep spent in its runs, side by side or one by one."""
    with contextlib.closing(sqlite3.connect(folder / "mlflow.db")) as db:
        first, last = db.execute(
            "SELECT MIN(start_time), MAX(end_time) FROM runs WHERE run_uuid NOT IN"
            " (SELECT run_uuid FROM tags WHERE key='lrchain.sweep')"
        ).fetchone()
    return ((last or 0) - (first or 0)) / 1000


def sweep(overrides: list[str], threads: int) -> tuple[float, float, float]:
    """Wall time of `train.py -m OVERRIDES` in a fresh folder, its runs' training time and span."""
    with launch_folder() as folder:
        wall = timed_run(["train.py", "-m", *overrides], folder, threads)
        return wall, epoch_seconds(folder), runs_span(folder)


def plain(scheds: str, seeds: str, epochs: int, threads: int) -> tuple[float, float, float]:
    """Wall time of benchmarks/plain_sweep.py in a fresh folder, its runs' training and span."""
    with launch_folder() as folder:
        args = [str(ROOT / "benchmarks" / "plain_sweep.py"), "--uri", "sqlite:///mlflow.db"]
        args += ["--scheds", scheds, "--seeds", seeds, "--epochs", str(epochs)]
        return timed_run(args, folder, threads), epoch_seconds(folder), runs_span(folder)


def sweep_rows(plan: Plan) -> list[Row]:
    """The default sweep end to end, split into its epochs (train + eval) and everything else."""
    ours, base = [], []
    overrides = ["sched=step,exp,chain", f"trainer.epochs={plan.epochs}", *plan.thread_args]
    for rep in range(plan.reps):  # the headline ratio: as many pairs as the quick figures, not 2
        if rep % 2:  # each side goes first in half the pairs
            base.append(plain("step,exp,chain", "0", plan.epochs, plan.threads))
        ours.append(sweep(overrides, plan.threads))
        if not rep % 2:
            base.append(plain("step,exp,chain", "0", plan.epochs, plan.threads))
    figure = f"default sweep, 3 jobs x {plan.epochs} epochs, end to end (s)"
    walls = Stat([w for w, _, _ in ours]), Stat([w for w, _, _ in base])
    spans = Stat([s for _, _, s in ours]), Stat([s for _, _, s in base])
    rest = Stat([w - s for w, _, s in ours]), Stat([w - s for w, _, s in base])
    epochs = Stat([t for _, t, _ in ours]), Stat([t for _, t, _ in base])
    return [
        Row(figure, *walls, target="<= 0.6x", met=lambda o, r: r <= 0.6, paired=True),
        Row("  of which the runs: first run's start to last run's end (s)", *spans, paired=True),
        Row("  of which the rest: start-up, store, set-up, comparison (s)", *rest, paired=True),
        Row("  epochs: train + eval, sum of every run's epoch_seconds (s)", *epochs, paired=True),
    ]


def growth_rows(plan: Plan) -> list[Row]:
    """Sweeps of 3, 12 and 48 one-epoch jobs; per-job overhead = extra wall less extra training."""
    sizes = {3: "0", 12: "0,1,2,3", 48: ",".join(str(s) for s in range(16))}
    walls: dict[int, list[list[float]]] = {n: [[], []] for n in sizes}
    overheads: list[list[float]] = [[], []]
    for _ in range(plan.sweep_reps):
        got = {}
        for n, seeds in sizes.items():
            overrides = ["sched=step,exp,chain", f"seed={seeds}", "trainer.epochs=1"]
            overrides += [*plan.thread_args, "hydra.launcher.n_jobs=1"]  # as the plain script
            got[n] = (
                sweep(overrides, plan.threads),
                plain("step,exp,chain", seeds, 1, plan.threads),
            )
            for i in (0, 1):
                walls[n][i].append(got[n][i][0])
        for i in (0, 1):
            (wall3, train3, _), (wall48, train48, _) = got[3][i], got[48][i]
            overheads[i].append((wall48 - wall3 - (train48 - train3)) / 45)
    rows = [
        Row(f"sweep of {n} one-epoch jobs, one at a time, wall (s)", Stat(a), Stat(b))
        for n, (a, b) in walls.items()
    ]
    figure = "per-job overhead after the first job (s)"
    rows.append(Row(figure, *map(Stat, overheads), target="< 0.3 s", met=lambda o, r: o < 0.3))
    return rows
