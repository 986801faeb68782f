"""Section `startup`: `train.py --help`, what it imports, and launch to the first epoch line."""

from __future__ import annotations

import re
import subprocess
import sys
import time

from harness import Plan, Row, Stat, launch_folder, timed_run, user_env

TITLE = "start-up: --help, first epoch"
HEAVY = ("mlflow", "torchvision", "matplotlib", "sklearn", "optuna")  # --help imports none


def first_epoch(plan: Plan, store: bool, first_store: bool = False) -> float:
    """Seconds from launching `train.py trainer.epochs=1` to its first epoch line.

    `store`: in a folder with a store; else a new one is made, from the blank store in
    lrchain's cache, or, `first_store`, as on a machine where none was made yet (empty cache).
    """
    with launch_folder(store) as folder:
        env = user_env(plan.threads)
        if first_store:
            env["LRCHAIN_CACHE"] = str(folder / "empty-cache")
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "train.py", "trainer.epochs=1", *plan.thread_args],
            cwd=folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        seconds = None
        for line in proc.stdout:  # type: ignore[union-attr]
            if seconds is None and re.search(r"epoch +1/1\b", line):
                seconds = time.perf_counter() - start
        if proc.wait() != 0 or seconds is None:
            raise RuntimeError("train.py trainer.epochs=1 failed or printed no epoch line")
        return seconds


def help_imports(threads: int) -> list[str]:
    """The heavy packages that `train.py --help` imports."""
    code = (
        "import runpy, sys\nsys.argv = ['train.py', '--help']\n"
        "try:\n    runpy.run_path('train.py', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        f"print('imported:' + ','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)"
    )
    with launch_folder() as folder:
        proc = subprocess.run(
            [sys.executable, "-c", code], cwd=folder, env=user_env(threads), capture_output=True
        )
    found = [ln for ln in proc.stderr.decode().splitlines() if ln.startswith("imported:")]
    if not found:
        raise RuntimeError(f"train.py --help failed: {proc.stderr.decode()[-2000:]}")
    return [m for m in found[-1].removeprefix("imported:").split(",") if m]


def rows(plan: Plan) -> list[Row]:
    with launch_folder() as folder:
        helps = [timed_run(["train.py", "--help"], folder, plan.threads) for _ in range(plan.reps)]
    heavy = help_imports(plan.threads)
    reps = max(2, plan.reps - 2)
    first = [first_epoch(plan, store=False, first_store=True) for _ in range(reps)]
    fresh = [first_epoch(plan, store=False) for _ in range(reps)]
    existing = [first_epoch(plan, store=True) for _ in range(reps)]
    return [
        Row("python train.py --help (s)", Stat(helps), target="< 1.5 s", met=lambda o, r: o < 1.5),
        Row(
            "heavy imports at --help",
            None,
            text=", ".join(heavy) or "none",
            target="none",
            ok=not heavy,
        ),
        Row("launch to first epoch line, the machine's first store (s)", Stat(first)),
        Row("launch to first epoch line, new store, a blank copy (s)", Stat(fresh)),
        Row("launch to first epoch line, existing store (s)", Stat(existing)),
    ]
