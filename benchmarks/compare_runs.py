"""Section `compare`: `lrchain compare` on a sweep of 50 and of 500 logged runs."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from harness import Plan, Row, Stat, empty_store, log, timed_run

TITLE = "lrchain compare on 50 and 500 runs"


def fake_sweep(folder: Path, runs: int, epochs: int = 20) -> str:
    """A store in `folder` with a parent run and `runs` children of `epochs` epochs each.

    Written with one log_batch a run rather than by training: only reading them back is timed.
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
    scheds = ("step", "exp", "chain")
    for i in range(runs):
        sched = scheds[i % 3]
        tags = {TAG_PARENT: parent_id, TAG_SCHED: sched}
        run = client.create_run(experiment_id, run_name=f"{sched},seed={i}", tags=tags)
        now = int(time.time() * 1000)
        values = []
        for e in range(epochs):
            lr, loss = 0.1 * 0.9**e, 2.0 / (e + 1 + i % 7)
            for key, value in ((LR, lr), (TRAIN_LOSS, loss), (VAL_LOSS, loss * 1.1)):
                values.append(Metric(key, value, now, e))
            values += [Metric(VAL_ACC, 1 - loss / 3, now, e), Metric(EPOCH_SECONDS, 0.2, now, e)]
        params = [Param("sched.name", sched), Param("seed", str(i))]
        client.log_batch(run.info.run_id, metrics=values, params=params)
        client.set_terminated(run.info.run_id, "FINISHED")
    client.set_terminated(parent_id, "FINISHED")
    return parent_id


def compare_time(runs: int, reps: int, threads: int) -> Stat | str:
    """Seconds of `python -m lrchain compare PARENT` on a sweep of `runs` runs; or why n/a."""
    from lrchain.cli import COMMANDS

    if "compare" not in COMMANDS:
        return "(no compare command)"
    with tempfile.TemporaryDirectory(prefix="lrchain-bench-") as tmp:
        parent_id = fake_sweep(Path(tmp), runs)
        args = ["-m", "lrchain", "compare", parent_id, "--out", f"{tmp}/out"]
        args += ["--tracking-uri", f"sqlite:///{tmp}/mlflow.db"]
        try:
            return Stat([timed_run(args, Path(tmp), threads) for _ in range(reps)])
        except RuntimeError as err:
            log(str(err))
            return "(compare failed)"


def rows(plan: Plan) -> list[Row]:
    result = []
    for runs in (50, 500):
        found = compare_time(runs, max(1, plan.sweep_reps), plan.threads)
        row = Row(f"lrchain compare, {runs} runs x 20 epochs (s)", None)
        if isinstance(found, Stat):
            row.ours = found
        else:
            row.text = f"n/a {found}"
        if runs == 500:
            row.target, row.met = "< 10 s", lambda o, r: o < 10
        result.append(row)
    return result
