"""Faults: failing and diverging jobs, signals, an unreachable or vanishing tracking server."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import (
    artifact_text,
    clean_env,
    client_for,
    history,
    lrchain,
    newest_run_id,
    project,
    runs_of,
    train,
)

from lrchain import store
from lrchain.testing import start_train, stop_group


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    project(tmp_path)
    return tmp_path


@pytest.mark.slow
def test_a_diverging_job_fails_alone_and_the_sweep_says_so(folder):
    proc = train(folder, "-m", "sched=exp", "optim.lr=0.1,1e20", "trainer.epochs=3", check=False)
    assert proc.returncode != 0
    assert "1 job(s) failed" in proc.stderr and "optim.lr=1e+20" in proc.stderr
    runs = {r.info.run_name: r for r in runs_of(folder)}
    good, bad = runs["optim.lr=0.1"], runs["optim.lr=1e+20"]
    assert good.info.status == "FINISHED"
    assert bad.info.status == "FAILED" and bad.info.end_time is not None
    assert bad.data.tags["lrchain.diverged"] == "true"
    assert bad.data.tags["lrchain.diverged_epoch"] == "0"
    assert "Diverged" in artifact_text(folder, bad.info.run_id, "error.txt")
    assert history(folder, bad.info.run_id, "lr") == []  # stopped at once: no epoch logged
    parent = [r for r in runs.values() if r.data.tags.get("lrchain.sweep") == "true"][0]
    assert parent.info.status == "FAILED"


def wait_for(proc: subprocess.Popen, pattern: str) -> list[str]:
    """Read `proc`'s output until a line matches `pattern`; the lines read."""
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if re.search(pattern, line):
            return lines
    raise AssertionError("".join(lines))


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_ends_the_run_killed_with_its_checkpoint_intact(folder, sig):
    proc = start_train(folder, "sched=exp", "trainer.epochs=200")
    wait_for(proc, r"epoch +2/200")
    run_id = newest_run_id(client_for(folder))
    proc.send_signal(sig)
    assert proc.wait(timeout=120) != 0
    run = client_for(folder).get_run(run_id)
    assert run.info.status == "KILLED" and run.info.end_time is not None
    state = store.get_checkpoint(client_for(folder), run_id, run.info.artifact_uri)
    assert state is not None and state["epoch"] >= 1
    assert [s for s, _ in history(folder, run_id, "lr")] == list(range(state["epoch"] + 1))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(folder: Path, port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
        + ["--backend-store-uri", f"sqlite:///{folder / 'server.db'}", "--workers", "1"],
        cwd=folder,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.5)
    stop_group(server)
    raise AssertionError("mlflow server did not start")


def test_an_unreachable_server_fails_fast_with_one_message(folder):
    began = time.monotonic()
    proc = train(folder, f"tracking.uri=http://127.0.0.1:{free_port()}", check=False)
    assert time.monotonic() - began < 15
    assert proc.returncode != 0
    assert "no tracking server answers" in proc.stderr and "Traceback" not in proc.stderr
    assert "epoch 1/" not in proc.stdout


@pytest.mark.slow
def test_a_server_that_stops_mid_run_loses_nothing_after_sync(folder):
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = start_server(folder, port)
    try:
        proc = start_train(
            folder, "sched=exp", "trainer.epochs=12", "trainer.batch_size=16", f"tracking.uri={uri}"
        )
        wait_for(proc, r"epoch +2/12")
        from mlflow import MlflowClient

        client = MlflowClient(uri)
        run_id = newest_run_id(client)
        stop_group(server)
        out = proc.communicate(timeout=300)[0]
        assert proc.returncode == 0, out
        assert "does not answer" in out and "lrchain sync" in out
        run_dirs = list(folder.glob("outputs/**/lrchain-run"))
        assert len(run_dirs) == 1 and (run_dirs[0] / "pending.jsonl").exists()
        assert (
            run_dirs[0] / "last.pt"
        ).exists()  # checkpointed when the spool began, and at the end

        server = start_server(folder, port)
        assert client.get_run(run_id).info.status == "RUNNING"  # the store has not got it all
        synced = lrchain(folder, "sync", str(run_dirs[0].parent))
        assert synced.returncode == 0, synced.stdout + synced.stderr
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED"
        for key in ("lr", "train/loss", "val/loss"):
            steps = sorted(m.step for m in client.get_metric_history(run_id, key))
            assert steps == list(range(12)), key  # none missing, none twice
        assert store.get_checkpoint(client, run_id, run.info.artifact_uri)["epoch"] == 11
        assert not (run_dirs[0] / "pending.jsonl").exists()
    finally:
        stop_group(server)


@pytest.mark.slow
def test_a_server_away_mid_run_and_back_before_the_end_gets_every_epoch_once(folder):
    """Writes fail mid-run (the server stops); they wait on disk, and the run's end sends them
    when the server is back: FINISHED, each epoch once, no sync needed."""
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = start_server(folder, port)
    try:
        args = ("sched=exp", "trainer.epochs=60", "trainer.batch_size=16", f"tracking.uri={uri}")
        proc = start_train(folder, *args)
        wait_for(proc, r"epoch +2/60")
        stop_group(server)
        wait_for(proc, r"does not answer")  # a write failed: it and later ones wait on disk
        os.kill(proc.pid, signal.SIGSTOP)  # the run waits while the server comes back
        server = start_server(folder, port)
        os.kill(proc.pid, signal.SIGCONT)
        out = proc.communicate(timeout=300)[0]
        assert proc.returncode == 0, out
        assert "has not got everything" not in out  # the end sent what waited on disk
        assert not list(folder.glob("outputs/**/lrchain-run/pending.jsonl"))

        from mlflow import MlflowClient

        client = MlflowClient(uri)
        run = client.get_run(newest_run_id(client))
        assert run.info.status == "FINISHED"
        for key in ("lr", "train/loss", "val/loss", "val/acc"):
            steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, key))
            assert steps == list(range(60)), key
    finally:
        stop_group(server)
