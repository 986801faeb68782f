"""Load: parallel jobs and sweeps on one SQLite store, concurrent writers, a 50-run sweep."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import clean_env, client_for, history, lrchain, project, runs_of, train


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    project(tmp_path)
    return tmp_path


def children(folder: Path) -> list:
    return [r for r in runs_of(folder) if "mlflow.parentRunId" in r.data.tags]


@pytest.mark.slow
def test_parallel_joblib_sweep_on_a_fresh_store_logs_every_run_whole(folder):
    proc = train(
        folder,
        "-m",
        "sched=step,exp,chain,cosine",
        "seed=0,1",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=4",
        "trainer.epochs=2",
    )
    assert "database is locked" not in proc.stdout + proc.stderr
    runs = children(folder)
    assert len(runs) == 8
    assert len({r.data.tags["mlflow.parentRunId"] for r in runs}) == 1
    for run in runs:
        assert run.info.status == "FINISHED", run.info.run_name
        for key in ("lr", "train/loss", "val/loss", "val/acc"):
            assert [s for s, _ in history(folder, run.info.run_id, key)] == [0, 1]
    client = client_for(folder)
    default = client.get_experiment_by_name("Default")
    assert default is None or client.search_runs([default.experiment_id]) == []
    assert sorted(r.info.run_name for r in runs)[0] == "sched=chain,seed=0"


@pytest.mark.slow
def test_two_sweeps_started_together_keep_their_own_outputs(folder):
    args = [sys.executable, "train.py", "-m", "sched=step,exp", "trainer.epochs=1"]
    first = subprocess.Popen(
        args, cwd=folder, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    second = subprocess.run(args, cwd=folder, env=clean_env(), capture_output=True, timeout=600)
    first_err = first.communicate(timeout=600)[1]
    assert first.returncode == 0 and second.returncode == 0, first_err + second.stderr
    sweeps = sorted(p.parent for p in folder.glob("multirun/*/*/multirun.yaml"))
    assert len(sweeps) == 2
    for sweep in sweeps:
        assert (sweep / "comparison" / "summary.csv").exists()
        assert len((sweep / "comparison" / "summary.csv").read_text().splitlines()) == 3
    parents = [r for r in runs_of(folder) if r.data.tags.get("lrchain.sweep") == "true"]
    assert len(parents) == 2 and len(children(folder)) == 4


WRITER = """
import sys
from pathlib import Path
from lrchain import store
uri, name = sys.argv[1], sys.argv[2]
client, experiment_id = store.open_experiment(uri, "stress", Path.cwd())
run_id, _ = store.start_run(client, experiment_id, name, {}, {"writer": name}, {})
for epoch in range(40):
    metrics = {"lr": 0.1, "train/loss": 1.0 / (epoch + 1)}
    store.log_epoch(client, run_id, epoch, metrics, [0.1] * 20)
client.set_terminated(run_id, "FINISHED")
"""


@pytest.mark.slow
def test_eight_concurrent_writers_on_one_fresh_store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    from lrchain import store

    store.open_experiment(uri, "stress", tmp_path)  # created once, before the writers
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, uri, f"w{i}"],
            cwd=tmp_path,
            env=clean_env(),
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    errors = [w.communicate(timeout=600)[1] for w in writers]
    assert [w.returncode for w in writers] == [0] * 8, errors
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("stress").experiment_id])
    assert len(runs) == 8
    for run in runs:
        assert run.info.status == "FINISHED"
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "lr_step")]
        assert sorted(steps) == list(range(40 * 20))


@pytest.mark.slow
def test_a_sweep_of_50_one_epoch_runs_completes_and_compares(folder):
    train(
        folder,
        "-m",
        "sched=exp",
        "seed=range(0,50)",
        "trainer.epochs=1",
        "trainer.checkpoint=false",
    )
    runs = children(folder)
    assert len(runs) == 50 and all(r.info.status == "FINISHED" for r in runs)
    parent = runs[0].data.tags["mlflow.parentRunId"]
    out = folder / "cmp"
    proc = lrchain(folder, "compare", parent, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert len((out / "summary.csv").read_text().splitlines()) == 51
