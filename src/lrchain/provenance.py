"""What a run was made with: code version, libraries, machine."""

from __future__ import annotations

import functools
import getpass
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import lrchain

if TYPE_CHECKING:
    import torch

SOURCE = Path(lrchain.__file__).resolve().parents[2]  # the checkout, for an editable install


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=SOURCE, capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "missing"


def code_tags() -> dict[str, str]:
    """Every run's tags that do not change between the jobs of one process."""
    import torch

    return source_tags() | {"lrchain.torch": torch.__version__}


@functools.cache
def source_tags() -> dict[str, str]:
    """code_tags() but torch's version: a sweep's parent run, whose process trains nothing and,
    with a parallel launcher, never loads torch (1.7 s, and ~480 MB, on a SLURM login node)."""
    tags = {
        "lrchain.version": lrchain.__version__,
        "lrchain.python": platform.python_version(),
        "lrchain.mlflow": _version("mlflow"),
        "lrchain.hydra": _version("hydra-core"),
        "mlflow.user": getpass.getuser(),
        "mlflow.source.type": "LOCAL",
        "mlflow.source.name": "train.py",
    }
    commit = _git("rev-parse", "HEAD") if (SOURCE / ".git").exists() else None
    if commit:
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
        tags |= {
            "lrchain.git_commit": commit,
            "lrchain.git_dirty": str(dirty).lower(),
            "mlflow.source.git.commit": commit,
        }
    return tags


def device_tags(device: torch.device, dtype: str = "float32") -> dict[str, str]:
    """The device and number format training ran on."""
    import torch

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    return {
        "lrchain.device": str(device),
        "lrchain.device_name": name or platform.machine(),
        "lrchain.dtype": dtype,
    }
