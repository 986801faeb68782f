"""Section `threads`: the default run idle and beside two busy processes; 4-job joblib sweeps.

Runs as a user starts them: `python train.py` in a fresh launch folder, nothing set in the
environment. The old policy is emulated in today's code: torch's default thread count and
OpenMP's default waiting (spin 300,000 rounds, then sleep: what an unset OMP_WAIT_POLICY means
to libgomp; GOMP_SPINCOUNT wins over the PASSIVE that train.py sets).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

from harness import Plan, Row, Stat, launch_folder, log, timed_run

TITLE = "threads: a default run idle and beside two busy processes; 4-job joblib sweeps"
BUSY = "while True: pass"


@contextlib.contextmanager
def busy(count: int) -> Iterator[None]:
    """`count` processes spinning on a core each, stopped (by pid) afterwards."""
    procs = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(count)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def run(plan: Plan, args: list[str], env: dict[str, str]) -> float:
    """Wall seconds of `python train.py ARGS trainer.epochs=20` in a fresh launch folder."""
    with launch_folder() as folder:
        return timed_run(["train.py", *args, f"trainer.epochs={plan.epochs}"], folder, 0, env)


def policy_rows(plan: Plan) -> list[Row]:
    """The default run idle and beside two busy processes, new policy and old, taking turns."""
    from lrchain.build import usable_cores
    from lrchain.testing import clean_env

    cores = usable_cores()
    policies = {
        "new": ([], clean_env()),
        "old": ([f"trainer.threads={cores}"], clean_env(GOMP_SPINCOUNT="300000")),
    }
    times: dict[tuple[str, bool], list[float]] = {(p, b): [] for p in policies for b in (0, 1)}
    for rep in range(max(2, plan.reps - 2)):
        for loaded in (False, True):
            with busy(2) if loaded else contextlib.nullcontext():
                for name, (args, env) in policies.items():
                    times[name, loaded].append(run(plan, args, env))
        log(f"threads: round {rep + 1} done")
    stats = {key: Stat(value) for key, value in times.items()}
    new, old = "trainer.threads=auto, passive waits", f"{cores} threads, OpenMP's default spin"
    return [
        Row(f"default run idle, {new} vs {old} (s)", stats["new", False], stats["old", False]),
        Row(
            f"  beside two busy processes, {new} vs {old} (s)",
            stats["new", True],
            stats["old", True],
        ),
        Row(
            f"  beside two busy processes vs idle, {new} (s)",
            stats["new", True],
            stats["new", False],
            target="<= 2.2x",
            met=lambda o, r: r <= 2.2,
        ),
        Row(
            f"  beside two busy processes vs idle, {old} (s)",
            stats["old", True],
            stats["old", False],
        ),
    ]


def sweep_rows(plan: Plan) -> list[Row]:
    """A 4-job sweep (20 epochs each): basic launcher, lrchain's default and joblib, start-up
    included."""
    from lrchain.testing import clean_env

    jobs = ["-m", "seed=0,1,2,3"]
    launchers = {
        "sequential (basic launcher)": ["hydra/launcher=basic"],
        "lrchain's default (forked, n_jobs=auto)": [],
        **{
            f"joblib n_jobs={n}": ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={n}"]
            for n in (1, 2, 4)
        },
    }
    walls: dict[str, list[float]] = {name: [] for name in launchers}
    for _ in range(plan.sweep_reps):
        for name, args in launchers.items():
            walls[name].append(run(plan, [*jobs, *args, *plan.thread_args], clean_env()))
    sequential = Stat(walls.pop("sequential (basic launcher)"))
    rows = [Row("4-job sweep, sequential (basic launcher), end to end (s)", sequential)]
    for name, wall in walls.items():
        two = name.endswith("=2") or name.startswith("lrchain")
        rows.append(
            Row(
                f"  4-job sweep, {name}, vs sequential (s)",
                Stat(wall),
                sequential,
                target="<= 0.8x" if two else "-",
                met=(lambda o, r: r <= 0.8) if two else None,
                paired=True,  # each repetition runs every launcher once
            )
        )
    return rows


def rows(plan: Plan) -> list[Row]:
    return policy_rows(plan) + sweep_rows(plan)
