"""Bad input: one clear message, a non-zero exit, no traceback, no run created or left RUNNING."""

from __future__ import annotations

import pytest
import torch
from conftest import artifact_text, client_for, project, runs_of, train

from lrchain.tracking import MAX_PARAM_VALUE, flatten

# (command-line arguments, words the message must hold)
MISTAKES = [
    (["sched=nope"], "Available options in 'sched'"),
    (["trainer.foo=1"], "Could not override 'trainer.foo'"),
    (["trainer.epochs=abc"], "trainer.epochs: must be a whole number of at least 1, got 'abc'"),
    (["trainer.epochs=0"], "trainer.epochs: must be a whole number of at least 1, got 0"),
    (["trainer.epochs=-3"], "trainer.epochs: must be a whole number"),
    (["trainer.batch_size=0"], "trainer.batch_size: must be a whole number"),
    (["optim.lr=0"], "optim.lr: must be a positive number, got 0"),
    (["optim.lr=-0.1"], "optim.lr: must be a positive number"),
    (["trainer.device=tpu"], "trainer.device: unknown device 'tpu'"),
    (["data=imagenet"], "Available options in 'data'"),
    (["data.name=imagenet"], "data.name: unknown data 'imagenet'; known: digits"),
    (["model.name=vit"], "model.name: unknown model 'vit'; known: cnn"),
    (["tracking.uri=ftp://example"], "tracking.uri: 'ftp://example' is not a tracking URI"),
    (["tracking.uri=mlruns"], "tracking.uri: 'mlruns' is not a tracking URI"),
    (["sched=exp", "sched.gamma=-1"], "sched.gamma: must be a positive number"),
    (["tracking.experiment="], "tracking.experiment: MLflow refuses the name ''"),
]
if not torch.cuda.is_available():
    MISTAKES.append((["trainer.device=cuda"], "no CUDA GPU is available"))


@pytest.mark.parametrize(("args", "words"), MISTAKES, ids=[" ".join(m[0]) for m in MISTAKES])
def test_each_mistake_ends_in_one_clear_message_and_no_run(launch_dir, args, words):
    proc = train(launch_dir, *args, "trainer.checkpoint=false", check=False)
    assert proc.returncode != 0
    assert words in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    if (launch_dir / "mlflow.db").exists():
        experiments = client_for(launch_dir).search_experiments()
        runs = client_for(launch_dir).search_runs([e.experiment_id for e in experiments])
        assert runs == []


def test_a_deleted_experiment_says_how_to_restore_it(launch_dir):
    client = client_for(launch_dir)
    client.delete_experiment(client.create_experiment("gone"))
    proc = train(launch_dir, "tracking.experiment=gone", check=False)
    assert proc.returncode != 0
    assert "is deleted" in proc.stderr and "mlflow experiments restore" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_values_over_mlflow_limits_are_cut_with_a_tag_and_kept_whole_in_the_config(launch_dir):
    long = "x" * (MAX_PARAM_VALUE + 500)
    train(launch_dir, "trainer.epochs=1", f"+data.note={long}")
    [run] = runs_of(launch_dir)
    assert run.info.status == "FINISHED"
    assert run.data.tags["lrchain.params_truncated"] == "data.note"
    assert len(run.data.params["data.note"]) == MAX_PARAM_VALUE
    assert long in artifact_text(launch_dir, run.info.run_id, "config/config.yaml")


def test_flattening_hostile_configs_never_collides():
    config = {
        "a": {"b": 1},
        "a.b": 2,  # a key with a dot that would collide with a/b
        "lists": [1, 2, [3, 4]],
        "dicts": [{"x": 1}, {"x": 2, "y": [{"z": "deep"}]}],
        "weird key/with:chars": "ok",
        "empty": {},
        "none": None,
    }
    config["k" * 300] = "long key"
    flat = flatten(config)
    assert flat["a.b"] == "1" and flat["a.b_2"] == "2"  # both kept, neither overwritten
    assert flat["lists.2"] == "[3, 4]"
    assert flat["dicts.1.y.0.z"] == "deep"
    assert flat["weird key_with_chars"] == "ok"
    assert flat["empty"] == "{}" and flat["none"] == "None"
    assert flat["k" * 250] == "long key"
    from mlflow.utils.validation import _validate_param_name

    for key in flat:
        _validate_param_name(key)  # MLflow's own rule accepts every key


def test_a_locked_sqlite_store_gives_one_message_and_no_run(launch_dir):
    import sqlite3

    client_for(launch_dir).create_experiment("lrchain")  # the store exists
    holder = sqlite3.connect(launch_dir / "mlflow.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        proc = train(launch_dir, "trainer.epochs=1", check=False)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert proc.returncode != 0
    assert "locked" in proc.stderr and "close it and try again" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert runs_of(launch_dir) == []


@pytest.fixture
def tiny_disk(tmp_path):
    """A launch folder on a 64 KiB filesystem (too small for MLflow's tables); needs root."""
    import subprocess

    mount = tmp_path / "tiny"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)])
    if made.returncode != 0:
        pytest.skip("mounting a tiny tmpfs needs root (CI runs as root)")
    project(mount)
    yield mount
    subprocess.run(["umount", "-l", str(mount)])


def test_a_read_only_folder_gives_one_message_and_no_run(tiny_disk):
    import subprocess

    subprocess.run(["mount", "-o", "remount,ro", str(tiny_disk)], check=True)
    proc = train(tiny_disk, "trainer.epochs=1", check=False)
    assert proc.returncode != 0
    assert "is not writable" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tiny_disk / "mlflow.db").exists()


def test_a_full_disk_gives_one_message_and_no_run(tiny_disk):
    proc = train(tiny_disk, "trainer.epochs=1", check=False)
    assert proc.returncode != 0
    assert "disk is full" in proc.stderr and "free space" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "epoch 1/" not in proc.stdout
