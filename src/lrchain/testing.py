"""For tests, benchmarks and scripts that run lrchain as a user would, from a shell."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from lrchain.provenance import SOURCE


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: no tracking URI or sweep state leaking from ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "LRCHAIN_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env | extra


def launch_folder(folder: Path) -> Path:
    """Make `folder` a launch folder: train.py and conf/ as in a user's clone (linked here)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.py").symlink_to(SOURCE / "train.py")
    (folder / "conf").symlink_to(SOURCE / "conf")
    return folder


def start_train(folder: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`python train.py ARGS` in `folder`, in the background, leading its own process group."""
    return subprocess.Popen(
        [sys.executable, "train.py", *args],
        cwd=folder,
        env=env or clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def stop_group(proc: subprocess.Popen, seconds: float = 30) -> None:
    """Stop a process started in its own group, with all it started: SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGCONT)  # a stopped group would not act on SIGTERM
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
