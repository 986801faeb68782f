"""Section `compare`: `lrchain compare` on sweeps of 50 and 500 logged runs (5 and 50 groups)."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from harness import Plan, Row, Stat, empty_store, log, timed_run

TITLE = "lrchain compare on 50 and 500 runs"


SEEDS = 10  # runs per group: the fake sweep is groups x 10 seeds
SCHEDS = ("step", "exp", "chain", "cosine", "poly")


def fake_sweep(folder: Path, runs: int, epochs: int = 20) -> str:
    """A store in `folder` with a parent run and `runs` children of `epochs` epochs each.

    runs / 10 groups (schedule x optim.lr) of 10 seeds, as `sched=... optim.lr=... seed=0,...,9`
    logs them. Written with one log_batch a run rather than by training: only reading is timed.
    """
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    from lrchain.contract import (
        EPOCH_SECONDS,
        LR,
        TAG_PARENT,
        TAG_SCHED,
        TAG_SWEEP,
        TRAIN_LOSS,
        VAL_ACC,
        VAL_LOSS,
    )

    shutil.copy(empty_store(), folder / "mlflow.db")
    client = MlflowClient(f"sqlite:///{folder}/mlflow.db")
    experiment_id = client.create_experiment("lrchain")
    parent = client.create_run(experiment_id, run_name="sweep", tags={TAG_SWEEP: "true"})
    parent_id = parent.info.run_id
    for i in range(runs):
        group, seed = divmod(i, SEEDS)
        sched, lr = SCHEDS[group % len(SCHEDS)], 0.01 * (1 + group // len(SCHEDS))
        tags = {TAG_PARENT: parent_id, TAG_SCHED: sched}
        name = f"sched={sched},optim.lr={lr:g},seed={seed}"
        run = client.create_run(experiment_id, run_name=name, tags=tags)
        now = int(time.time() * 1000)
        values = []
        for e in range(epochs):
            loss = 2.0 / (e + 1 + group % 7) * (1 + 0.02 * ((seed * 7 + e) % 5))
            for key, value in ((LR, lr * 0.9**e), (TRAIN_LOSS, loss), (VAL_LOSS, loss * 1.1)):
                values.append(Metric(key, value, now, e))
            values += [Metric(VAL_ACC, 1 - loss / 3, now, e), Metric(EPOCH_SECONDS, 0.2, now, e)]
        params = [
            Param("sched.name", sched),
            Param("optim.lr", f"{lr:g}"),
            Param("seed", str(seed)),
        ]
        client.log_batch(run.info.run_id, metrics=values, params=params)
        client.set_terminated(run.info.run_id, "FINISHED")
    client.set_terminated(parent_id, "FINISHED")
    return parent_id


def compare_time(runs: int, reps: int, threads: int) -> Stat | str:
    """Seconds of `python -m lrchain compare PARENT` on a sweep of `runs` runs, grouped by seed
    (the default); or why n/a."""
    from lrchain.cli import COMMANDS

    if "compare" not in COMMANDS:
        return "(no compare command)"
    with tempfile.TemporaryDirectory(prefix="lrchain-bench-") as tmp:
        parent_id = fake_sweep(Path(tmp), runs)
        args = ["-m", "lrchain", "compare", parent_id, "--out", f"{tmp}/out"]
        args += ["--tracking-uri", f"sqlite:///{tmp}/mlflow.db"]
        try:
            seconds = [timed_run(args, Path(tmp), threads) for _ in range(reps)]
        except RuntimeError as err:
            log(str(err))
            return "(compare failed)"
        made = len((Path(tmp) / "out" / "groups.csv").read_text().splitlines()) - 1
        if made != runs // SEEDS:
            return f"(grouped into {made} groups, not {runs // SEEDS})"
        return Stat(seconds)


def rows(plan: Plan) -> list[Row]:
    result = []
    for runs in (50, 500):
        found = compare_time(runs, max(1, plan.sweep_reps), plan.threads)
        groups = runs // SEEDS
        row = Row(
            f"lrchain compare, {runs} runs ({groups} groups x {SEEDS} seeds) x 20 epochs (s)", None
        )
        if isinstance(found, Stat):
            row.ours = found
        else:
            row.text = f"n/a {found}"
        if runs == 500:
            row.target, row.met = "< 10 s", lambda o, r: o < 10
        result.append(row)
    return result
