"""Beyond one machine: sweeps through submitit (local and SLURM) to a team server on PostgreSQL.

The server, PostgreSQL and SLURM are the real programs, started by fixtures (tests/servers.py) on
127.0.0.1. Runs are read back over HTTP only, as from another host.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
from conftest import lrchain, train

from lrchain import store
from lrchain.build import usable_cores
from lrchain.contract import CURVES, LR, TAG_PARENT, TAG_SWEEP, TAG_THREADS
from lrchain.testing import clean_env, start_train, stop_group

pytestmark = pytest.mark.slow
JOBS = ["sched=step,exp", "seed=0,1"]  # 2 schedules x 2 seeds
NAMES = sorted(f"sched={s},seed={n}" for s in ("step", "exp") for n in (0, 1))


def client(server):
    from mlflow import MlflowClient

    return MlflowClient(server.uri)


def sweep(server, experiment: str, *extra: str) -> list[str]:
    """The test sweep's arguments: 4 jobs, 2 at a time, logged to `server`."""
    return ["-m", *JOBS, f"tracking.uri={server.uri}", f"tracking.experiment={experiment}"] + [
        "hydra.sweeper.max_batch_size=2",
        *extra,
    ]


def runs_of(server, experiment: str) -> list:
    c = client(server)
    found = c.get_experiment_by_name(experiment)
    return [] if found is None else c.search_runs([found.experiment_id])


def parent_and_children(server, experiment: str) -> tuple:
    runs = runs_of(server, experiment)
    parents = [r for r in runs if r.data.tags.get(TAG_SWEEP) == "true"]
    assert len(parents) == 1, [r.info.run_name for r in runs]
    return parents[0], [r for r in runs if r.data.tags.get(TAG_SWEEP) != "true"]


def steps(server, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in client(server).get_metric_history(run_id, key))


def assert_complete(server, experiment: str, epochs: int) -> tuple:
    """Every job FINISHED as a child of the parent, every curve at every epoch, a checkpoint."""
    parent, children = parent_and_children(server, experiment)
    assert sorted(r.info.run_name for r in children) == NAMES
    for run in children:
        name = run.info.run_name
        assert run.data.tags[TAG_PARENT] == parent.info.run_id
        assert run.info.status == "FINISHED", name
        assert run.info.artifact_uri.startswith("mlflow-artifacts:"), name  # proxied by the server
        for key in CURVES:
            assert steps(server, run.info.run_id, key) == list(range(epochs)), (name, key)
        saved = store.get_checkpoint(client(server), run.info.run_id, run.info.artifact_uri)
        assert saved is not None and saved["epoch"] == epochs - 1, name
    return parent, children


def wait_until(condition, what: str, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.3)


def logged(server, experiment: str, count: int, step: int) -> list:
    """The runs of `experiment` that logged `lr` at `step`, when `count` of them have."""
    runs = [r for r in runs_of(server, experiment) if r.data.tags.get(TAG_SWEEP) != "true"]
    done = [r for r in runs if step in steps(server, r.info.run_id, LR)]
    return done if len(done) >= count else []


def ended_unsynced(launch_dir: Path) -> int:
    """How many jobs have ended with their status kept on disk (the store did not answer)."""
    spools = list(launch_dir.glob("multirun/*/*/[0-9]*/lrchain-run"))
    return sum((spool / "status").exists() for spool in spools)


def test_a_submitit_sweep_logs_every_job_to_the_team_server(tracking_server, launch_dir, tmp_path):
    args = sweep(tracking_server, "local", "hydra/launcher=submitit_local", "trainer.epochs=2")
    train(launch_dir, *args)
    parent, children = assert_complete(tracking_server, "local", epochs=2)
    assert parent.info.status == "FINISHED"
    summary = store.read_text(client(tracking_server), parent.info.run_id, "comparison/summary.csv")
    assert all(r.info.run_id in summary for r in children)
    assert not (launch_dir / "mlflow.db").exists()  # nothing went to a local store
    shared = str(max(1, usable_cores() // 2))  # submitit starts the batch of 2 at once
    assert all(r.data.tags[TAG_THREADS] == shared for r in children)

    elsewhere = tmp_path / "another-host"  # no store, no checkout: the server only
    elsewhere.mkdir()
    uri = ["--tracking-uri", tracking_server.uri]
    compared = lrchain(elsewhere, "compare", parent.info.run_id, *uri)
    assert compared.returncode == 0, compared.stderr
    assert (elsewhere / "comparison" / "summary.csv").exists()
    again = lrchain(elsewhere, "reproduce", children[0].info.run_id, *uri)
    assert again.returncode == 0 and "agree bit for bit" in again.stdout, again.stdout


def test_a_server_stopped_mid_sweep_loses_no_epoch_after_sync(tracking_server, launch_dir):
    epochs = 16  # the first batch must still be training when the server stops (~0.7 s an epoch)
    args = sweep(tracking_server, "outage", "hydra/launcher=local", f"trainer.epochs={epochs}")
    proc = start_train(launch_dir, *args, "trainer.batch_size=16")
    try:
        wait_until(lambda: logged(tracking_server, "outage", 2, step=0), "epoch 0 of jobs 0, 1")
        os.kill(proc.pid, signal.SIGSTOP)  # the second batch waits until the server is back
        tracking_server.stop()
        wait_until(lambda: ended_unsynced(launch_dir) == 2, "the first batch to end, server down")
        tracking_server.start()
        os.kill(proc.pid, signal.SIGCONT)
        out = proc.communicate(timeout=600)[0]
    finally:
        stop_group(proc, 120)
        if not tracking_server.healthy():
            tracking_server.start()
    assert proc.returncode == 0, out
    waiting = re.findall(r"^  lrchain sync (\S+)$", out, re.MULTILINE)
    assert sorted(Path(w).name for w in waiting) == ["0", "1"], out  # the jobs of the first batch
    for folder in waiting:
        synced = lrchain(launch_dir, "sync", folder)
        assert synced.returncode == 0, synced.stdout + synced.stderr
    assert_complete(tracking_server, "outage", epochs)


def test_a_job_stopped_by_sigterm_ends_killed_and_resumes_on_another_host(
    tracking_server, launch_dir, tmp_path
):
    epochs, uri = 40, tracking_server.uri  # ~8 s: the SIGTERM lands mid-run, not after it
    args = ["-m", "sched=exp", f"tracking.uri={uri}", "tracking.experiment=sigterm"]
    proc = start_train(launch_dir, *args, "hydra/launcher=local", f"trainer.epochs={epochs}")
    try:
        wait_until(lambda: logged(tracking_server, "sigterm", 1, step=1), "epoch 1")
        run_id = logged(tracking_server, "sigterm", 1, step=1)[0].info.run_id
        # submitit's job controller forwards SIGTERM to the job, as SLURM signals a job step
        (controller,) = launch_dir.glob("multirun/*/*/.submitit/[0-9]*")
        os.kill(int(controller.name), signal.SIGTERM)
        out = proc.communicate(timeout=300)[0]
    finally:
        stop_group(proc, 120)
    assert proc.returncode != 0, out
    parent, _ = parent_and_children(tracking_server, "sigterm")
    assert parent.info.status not in ("FINISHED", "RUNNING")  # the sweep says it did not complete
    run = client(tracking_server).get_run(run_id)
    assert run.info.status == "KILLED" and run.info.end_time is not None
    saved = store.get_checkpoint(client(tracking_server), run_id, run.info.artifact_uri)
    assert saved is not None and saved["epoch"] < epochs - 1
    assert steps(tracking_server, run_id, LR) == list(range(saved["epoch"] + 1))

    elsewhere = tmp_path / "another-host"
    elsewhere.mkdir()
    resumed = lrchain(elsewhere, "resume", run_id, "--tracking-uri", uri)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert client(tracking_server).get_run(run_id).info.status == "FINISHED"
    for key in CURVES:
        assert steps(tracking_server, run_id, key) == list(range(epochs)), key


@pytest.mark.parametrize("launcher", ["slurm", "submitit_slurm"])
def test_a_sqlite_store_is_refused_before_jobs_go_to_other_hosts(launch_dir, launcher):
    proc = train(launch_dir, "-m", *JOBS, f"hydra/launcher={launcher}", check=False)
    assert proc.returncode != 0
    assert "is a SQLite file" in proc.stderr and "tracking.uri=http://HOST:PORT" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (launch_dir / "mlflow.db").exists()  # refused before the store or a job
    assert not list(launch_dir.glob("multirun/*/*/.submitit"))


def test_a_sweep_runs_on_a_real_slurm_cluster(tracking_server, slurm_cluster, launch_dir):
    small_node = ["gpus_per_node=0", "cpus_per_task=1", "mem_gb=null"]  # 1 node, 2 cores, no GPU
    small_node = [f"hydra.launcher.{key}" for key in small_node]
    args = sweep(tracking_server, "slurm", "hydra/launcher=slurm", "trainer.epochs=2", *small_node)
    train(launch_dir, *args, env=clean_env(**slurm_cluster.env))
    parent, _ = assert_complete(tracking_server, "slurm", epochs=2)
    assert parent.info.status == "FINISHED"
    scripts = [s.read_text() for s in launch_dir.glob("multirun/*/*/.submitit/*/*_submission.sh")]
    assert len(scripts) == 2  # one job array per batch of 2
    assert all("#SBATCH --array=0-1%2" in s and "#SBATCH --signal=TERM@120" in s for s in scripts)
