"""For tests, benchmarks and scripts that run lrchain as a user would, from a shell."""

from __future__ import annotations

import os
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
