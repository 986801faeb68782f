"""Section `resume`: SIGKILL at random instants, `lrchain resume`, histories against a clean run.

Each kill lands at a random instant of the next 0-4 epochs of a `train.py` or `lrchain resume`
process. After each kill the store must hold a prefix of the uninterrupted history, each step
once; after the last resume, all of it. Small epochs (256 images) and a checkpoint every 0.05 s
make kills land in training, in checkpoint writes and in a resume's re-run of logged epochs.
"""

from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness import Plan, Row, Stat, launch_folder, user_env

TITLE = "resume: SIGKILL at random instants, then lrchain resume"
RUNS = {"chain": 10, "onecycle": 10}  # 20 kills; onecycle also logs lr_step per batch
FAST = ["trainer.epochs=80", "data.subset=256", "trainer.checkpoint_every=0.05"]
EPOCH_LINE = re.compile(r"epoch +\d+/")
KEYS = ("lr", "train/loss", "val/loss", "val/acc", "lr_step")


def start(folder: Path, args: list[str], threads: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=folder,
        env=user_env(threads),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def kill_at_random(proc: subprocess.Popen, ready: str, rng: random.Random) -> bool:
    """SIGKILL `proc` at a random instant of its first 0-4 epochs after `ready`; False if it
    ended first."""
    epochs, marks = rng.randint(0, 4), []
    for line in proc.stdout:  # type: ignore[union-attr]
        if marks and EPOCH_LINE.search(line) or not marks and re.search(ready, line):
            marks.append(time.monotonic())
            if len(marks) > epochs:
                break
    else:
        proc.wait()
        return False
    epoch = marks[-1] - marks[-2] if len(marks) > 1 else 0.05
    time.sleep(rng.uniform(0, min(epoch, 1.0)))  # anywhere in the epoch: training, writes
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=120)
    return True


def histories(client, run_id: str) -> dict[str, list[tuple[int, float]]]:
    """Every (step, value) of the compared metrics, as logged, duplicates kept."""
    return {
        k: sorted((m.step, m.value) for m in client.get_metric_history(run_id, k)) for k in KEYS
    }


def is_prefix(got: dict, want: dict) -> bool:
    """Whether `got` holds the first epochs of `want`, each step once (lr_step: its batches)."""
    epochs = len(got["lr"])
    per_batch = len(want["lr_step"]) // max(1, len(want["lr"]))
    return all(got[k] == want[k][: epochs * (per_batch if k == "lr_step" else 1)] for k in KEYS)


def rows(plan: Plan) -> list[Row]:
    from mlflow import MlflowClient

    rng, kills, prefixes, equal, seconds = random.Random(14), 0, 0, 0, []
    with launch_folder() as folder:
        client = MlflowClient(f"sqlite:///{folder}/mlflow.db")
        args = ["train.py", "-m", f"sched={','.join(RUNS)}", *FAST, *plan.thread_args]
        args += ["hydra.launcher.n_jobs=1"]  # the threads of the runs killed below: one at a time
        sweep = start(folder, args, plan.threads)
        out = sweep.communicate()[0]
        if sweep.returncode != 0:
            raise RuntimeError(f"reference sweep failed:\n{out[-3000:]}")
        experiment = client.get_experiment_by_name("lrchain").experiment_id
        found = client.search_runs([experiment], "tags.mlflow.parentRunId != ''")
        reference = {r.data.tags["lrchain.sched"]: histories(client, r.info.run_id) for r in found}
        for sched, times in RUNS.items():
            args = ["train.py", f"sched={sched}", *FAST, *plan.thread_args]
            landed = kill_at_random(start(folder, args, plan.threads), r"epoch +1/", rng)
            order = ["attributes.start_time DESC"]
            run_id = client.search_runs([experiment], order_by=order)[0].info.run_id
            for _ in range(4 * times):  # a process that ended before its kill is tried again
                prefixes += landed and is_prefix(histories(client, run_id), reference[sched])
                kills += landed
                times -= landed
                if not times:
                    break
                proc = start(folder, ["-m", "lrchain", "resume", run_id], plan.threads)
                landed = kill_at_random(proc, r"resumes ", rng)
            began = time.perf_counter()
            done = start(folder, ["-m", "lrchain", "resume", run_id], plan.threads)
            out = done.communicate()[0]
            if done.returncode != 0:
                raise RuntimeError(f"resume failed:\n{out[-3000:]}")
            seconds.append(time.perf_counter() - began)
            equal += histories(client, run_id) == reference[sched]
    return [
        Row(
            "SIGKILL at random instants: store a prefix of the clean run after the kill",
            None,
            text=f"{prefixes} / {kills} kills",
            target="all",
            ok=prefixes == kills,
        ),
        Row(
            "  then lrchain resume: histories equal to the clean run, each step once",
            None,
            text=f"{equal} / {len(RUNS)} runs ({kills} kills)",
            target="20 of 20 kills",
            ok=equal == len(RUNS) and kills == sum(RUNS.values()),
        ),
        Row("  a resume to the end, from start to exit (s)", Stat(seconds)),
    ]
