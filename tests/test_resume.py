"""Resume: real processes killed with SIGKILL, continued by `lrchain resume`, compared."""

from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import (
    clean_env,
    client_for,
    history,
    kill_after_epoch,
    lrchain,
    newest_run_id,
    project,
    runs_of,
    train,
)

from lrchain import checkpoint
from lrchain.testing import start_train

COMPARED = ("lr", "train/loss", "val/loss", "val/acc")
EPOCHS = 8


def resume(folder: Path, run_id: str, *args: str) -> subprocess.CompletedProcess:
    return lrchain(folder, "resume", run_id, *args)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    here = tmp_path_factory.mktemp("resume")
    project(here)
    return here


@pytest.fixture(scope="module")
def uninterrupted(folder) -> dict[str, str]:
    """Reference runs that were never interrupted, by schedule."""
    sweep = ["-m", "sched=step,exp,chain,warmup_cosine", "hydra.launcher.n_jobs=1"]  # as runs alone
    train(folder, *sweep, f"trainer.epochs={EPOCHS}")
    children = [r for r in runs_of(folder) if "mlflow.parentRunId" in r.data.tags]
    return {r.data.tags["lrchain.sched"]: r.info.run_id for r in children}


@pytest.mark.slow
@pytest.mark.parametrize("sched", ["step", "exp", "chain", "warmup_cosine"])
def test_sigkill_mid_epoch_then_resume_gives_the_uninterrupted_histories(
    folder, uninterrupted, sched
):
    proc = start_train(folder, f"sched={sched}", f"trainer.epochs={EPOCHS}")
    run_id = kill_after_epoch(proc, folder, 3)
    client = client_for(folder)
    assert client.get_run(run_id).info.status == "RUNNING"  # what a SIGKILL leaves behind

    done = resume(folder, run_id)
    assert done.returncode == 0, done.stdout + done.stderr
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    for key in COMPARED:
        steps = [s for s, _ in history(folder, run_id, key)]
        assert steps == list(range(EPOCHS)), f"{key}: missing or duplicated steps {steps}"
        assert history(folder, run_id, key) == history(folder, uninterrupted[sched], key), key


@pytest.mark.slow
def test_resume_with_a_changed_config_is_refused_unless_allowed(folder):
    proc = start_train(folder, "sched=exp", f"trainer.epochs={EPOCHS}")
    run_id = kill_after_epoch(proc, folder, 2)
    refused = resume(folder, run_id, "optim.momentum=0.5")
    assert refused.returncode == 2
    assert "optim.momentum" in refused.stderr and "--allow-changes" in refused.stderr
    allowed = resume(folder, run_id, "optim.momentum=0.5", "--allow-changes")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    run = client_for(folder).get_run(run_id)
    assert run.data.tags["lrchain.resume_changes"] == "optim.momentum"
    assert run.info.status == "FINISHED"


KILL_RUNS = {"chain": 10, "onecycle": 10}  # SIGKILLs per run; onecycle also logs lr_step
FAST = ("trainer.epochs=80", "data.subset=256", "trainer.checkpoint_every=0.05")  # 4 batches
EPOCH_LINE = re.compile(r"epoch +\d+/")


def start(folder: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=folder,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def kill_at_random(proc: subprocess.Popen, ready: str, rng: random.Random) -> None:
    """SIGKILL `proc` at a random instant of its first 0-4 epochs after it prints `ready`."""
    lines, epochs, marks = [], rng.randint(0, 4), []
    for line in proc.stdout:
        lines.append(line)
        if marks and EPOCH_LINE.search(line) or not marks and re.search(ready, line):
            marks.append(time.monotonic())
            if len(marks) > epochs:
                break
    else:
        raise AssertionError(f"ended before its kill:\n{''.join(lines)}")
    epoch = marks[-1] - marks[-2] if len(marks) > 1 else 0.05
    time.sleep(rng.uniform(0, min(epoch, 1.0)))  # anywhere in the epoch: training, writes
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)


def assert_prefix(folder: Path, run_id: str, reference: str, whole: bool = False) -> None:
    """The run's store holds the first epochs of `reference` (all of them if `whole`), each once."""
    epochs = len(history(folder, run_id, "lr"))
    per_batch = len(history(folder, reference, "lr_step")) // len(history(folder, reference, "lr"))
    for key in (*COMPARED, "lr_step"):
        got, want = history(folder, run_id, key), history(folder, reference, key)
        assert got == (want if whole else want[: epochs * (per_batch if key == "lr_step" else 1)])


@pytest.mark.slow
def test_sigkill_at_random_instants_then_resume_loses_no_step_and_repeats_none(tmp_path):
    """20 SIGKILLs at random instants (training, checkpoint writes, a resume re-running logged
    epochs): after each, the store holds a prefix of the uninterrupted run, each step once;
    after the last resume, the whole of it."""
    folder = project(tmp_path)
    train(folder, "-m", f"sched={','.join(KILL_RUNS)}", *FAST, "hydra.launcher.n_jobs=1")
    children = [r for r in runs_of(folder) if "mlflow.parentRunId" in r.data.tags]
    reference = {r.data.tags["lrchain.sched"]: r.info.run_id for r in children}
    rng = random.Random(14)
    for sched, kills in KILL_RUNS.items():
        kill_at_random(start(folder, "train.py", f"sched={sched}", *FAST), r"epoch +1/", rng)
        run_id = newest_run_id(client_for(folder))
        assert_prefix(folder, run_id, reference[sched])
        for _ in range(kills - 1):
            kill_at_random(start(folder, "-m", "lrchain", "resume", run_id), r"resumes ", rng)
            assert_prefix(folder, run_id, reference[sched])
        done = resume(folder, run_id)
        assert done.returncode == 0, done.stdout + done.stderr
        run = client_for(folder).get_run(run_id)
        assert run.info.status == "FINISHED"
        assert "lrchain.resume_diverged_epoch" not in run.data.tags  # a CPU re-computes exactly
        assert_prefix(folder, run_id, reference[sched], whole=True)


@pytest.mark.slow
def test_a_resume_with_changes_keeps_the_logged_epochs_and_tags_where_they_differ(folder):
    proc = start_train(folder, "sched=exp", f"trainer.epochs={EPOCHS}")
    run_id = kill_after_epoch(proc, folder, 3)  # no checkpoint yet: every epoch is re-run
    logged = history(folder, run_id, "val/loss")
    done = resume(folder, run_id, "optim.lr=0.05", "--allow-changes")
    assert done.returncode == 0, done.stdout + done.stderr
    run = client_for(folder).get_run(run_id)
    assert run.data.tags["lrchain.resume_diverged_epoch"] == "0"
    assert "differs from the logged one" in done.stderr
    after = history(folder, run_id, "val/loss")
    assert [s for s, _ in after] == list(range(EPOCHS))
    assert after[: len(logged)] == logged  # what was logged stays as it was


WRITER = """
import sys, torch
from pathlib import Path
from lrchain.checkpoint import save_atomic
path, i = Path(sys.argv[1]), 0
while True:
    i += 1
    save_atomic({"i": torch.tensor(i), "w": torch.full((8_000_000,), float(i))}, path)
    print(i, flush=True)
"""


def test_sigkill_during_checkpoint_writes_leaves_a_complete_checkpoint(tmp_path):
    path = tmp_path / "checkpoint" / "last.pt"
    leftovers = 0
    for trial in range(6):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
        )
        proc.stdout.readline()  # one complete checkpoint exists, the next write is under way
        time.sleep(0.05 * trial)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        state = checkpoint.load(path)
        assert torch.equal(state["w"], torch.full((8_000_000,), float(state["i"])))
        leftovers += len(list(path.parent.glob(".last-*.tmp")))
    assert leftovers > 0  # some kills did land in the middle of a write


def test_a_checkpoint_state_is_not_changed_by_the_epochs_after_it(tmp_path):
    from conftest import ROOT

    from lrchain import configs
    from lrchain.build import build
    from lrchain.training import train_epochs

    config = configs.plain(configs.compose(["trainer.epochs=2"], ROOT / "conf"))
    parts = build(config, tmp_path, threads=1)
    history: list[dict] = []
    states: list[dict] = []

    def on_epoch(epoch: int, metrics: dict, step_lrs: list) -> None:
        history.append({"epoch": epoch, "metrics": metrics, "step_lrs": step_lrs})
        states.append(checkpoint.state(parts, history))

    train_epochs(config, parts, on_epoch)
    first, last = states
    assert [h["epoch"] for h in first["history"]] == [0]  # epoch 1 came after it
    assert first["history"][0] is history[0]  # entries are shared, never changed
    weight = "0.weight"
    assert not torch.equal(first["model"][weight], last["model"][weight])
    assert torch.equal(last["model"][weight], parts.model.state_dict()[weight])
    assert first["model"][weight].data_ptr() != parts.model.state_dict()[weight].data_ptr()
