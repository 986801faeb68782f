"""Shared fixtures: a launch folder per test, the real `train.py` in a subprocess, a real store."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from servers import slurm_cluster, tracking_server  # noqa: F401  (fixtures: real servers)

from lrchain.testing import clean_env
from lrchain.testing import launch_folder as project

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def launch_dir(tmp_path: Path) -> Path:
    """A fresh launch folder for one test."""
    return project(tmp_path / "project")


def train(
    folder: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run `python train.py ARGS` in `folder`, as a user would."""
    proc = subprocess.run(
        [sys.executable, "train.py", *args],
        cwd=folder,
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"train.py {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def lrchain(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """Run `python -m lrchain ARGS` in `folder`, as a user would (`lrchain ARGS`)."""
    return subprocess.run(
        [sys.executable, "-m", "lrchain", *args],
        cwd=folder,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )


def client_for(folder: Path):
    """An MlflowClient on the default store of `folder` (its mlflow.db)."""
    from mlflow import MlflowClient

    return MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")


def runs_of(folder: Path, experiment: str = "lrchain") -> list:
    """Every run of `experiment` in `folder`'s store, oldest first."""
    client = client_for(folder)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment!r} in {folder / 'mlflow.db'}"
    runs = client.search_runs([found.experiment_id], max_results=1000)
    return sorted(runs, key=lambda r: r.info.start_time)


def artifact_text(folder: Path, run_id: str, path: str) -> str:
    """The text of a run's artifact, downloaded from `folder`'s store."""
    return Path(client_for(folder).download_artifacts(run_id, path)).read_text()


def history(folder: Path, run_id: str, key: str) -> list[tuple[int, float]]:
    """(step, value) pairs of metric `key`, by step."""
    points = client_for(folder).get_metric_history(run_id, key)
    return sorted((m.step, m.value) for m in points)


def newest_run_id(client, experiment: str = "lrchain") -> str:
    """The id of the run started last in `experiment` of the store `client` reads."""
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment!r} at {client.tracking_uri}"
    runs = client.search_runs([found.experiment_id], order_by=["attributes.start_time DESC"])
    assert runs, f"no run in {experiment!r} at {client.tracking_uri}"
    return runs[0].info.run_id


def kill_after_epoch(proc: subprocess.Popen, folder: Path, epoch: int) -> str:
    """SIGKILL `proc` right after it reports `epoch` (1-based); the id of the run it left."""
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if f"epoch {epoch}/" in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert any(f"epoch {epoch}/" in line for line in seen), "".join(seen)
    return newest_run_id(client_for(folder))
