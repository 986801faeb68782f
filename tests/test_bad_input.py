"""Bad input: one clear message, a non-zero exit, no traceback, no run created or left RUNNING."""

from __future__ import annotations

import pytest
import torch
from conftest import ROOT, artifact_text, client_for, project, runs_of, train

from lrchain.configs import compose, plain
from lrchain.errors import ConfigError
from lrchain.store import MAX_PARAM_VALUE, flatten
from lrchain.validate import validate

# Mistakes caught by lrchain itself: (overrides, the message's start), checked in process.
CONFIG_MISTAKES = [
    (["seed=abc"], "seed: got 'abc'; allowed: a whole number"),
    (["seed=-1"], "seed: got -1; allowed: a whole number from 0"),
    (["trainer.epochs=abc"], "trainer.epochs: got 'abc'; allowed: a whole number of at least 1"),
    (["trainer.epochs=0"], "trainer.epochs: got 0; allowed: a whole number of at least 1"),
    (["trainer.batch_size=0"], "trainer.batch_size: got 0; allowed"),
    (["optim.lr=0"], "optim.lr: got 0; allowed: a finite number above 0"),
    (["optim.lr=-0.1"], "optim.lr: got -0.1; allowed"),
    (["optim.lr=nan"], "optim.lr: got nan; allowed: a finite number above 0"),
    (["optim.lr=inf"], "optim.lr: got inf; allowed: a finite number above 0"),
    (["optim.nesterov=true", "optim.momentum=0"], "optim.nesterov: true needs optim.momentum"),
    (["trainer.device=tpu"], "trainer.device: got 'tpu'; allowed: auto, cpu, cuda or cuda:N"),
    (["data.name=imagenet"], "data.name: got 'imagenet'; allowed: digits, mnist"),
    (["data.val_fraction=1"], "data.val_fraction: got 1; allowed: a number above 0 and below 1"),
    (["data.subset=5000"], "data.subset: 5000 is more than the 1437 training images of digits"),
    (["model.name=vit"], "model.name: got 'vit'; allowed: cnn, mlp, resnet18"),
    (["tracking.uri=ftp://example"], "tracking.uri: got 'ftp://example'; allowed: null"),
    (["tracking.uri=mlruns"], "tracking.uri: got 'mlruns'; allowed"),
    (["tracking.experiment="], "tracking.experiment: got ''; allowed: a non-empty name"),
    (["sched=exp", "sched.gamma=-1"], "sched.gamma: got -1; allowed: a number above 0"),
    (["sched=cosine", "sched.eta_min=low"], "sched.eta_min: got 'low'; allowed: a number"),
    (["data=cifar10", "data.mean=[0.5]"], "data.mean: got 1 values; allowed: one per channel (3)"),
]


@pytest.mark.parametrize(
    ("overrides", "words"), CONFIG_MISTAKES, ids=[" ".join(m[0]) for m in CONFIG_MISTAKES]
)
def test_each_config_mistake_is_refused_with_one_message(overrides, words):
    with pytest.raises(ConfigError) as caught:
        validate(plain(compose(overrides)))
    assert str(caught.value).startswith(words), caught.value


def wrong_kind(value):
    """A value of another kind than `value`: text for numbers, flags and lists; a list for text."""
    if isinstance(value, str) and value != "auto":
        return 12345 if not value.isdigit() else [1]
    return "bad!" if value is not None else [1]


def every_key(node, path=""):
    """(dotted key, value) of every leaf of a config tree."""
    for key, value in node.items():
        where = f"{path}.{key}" if path else key
        if isinstance(value, dict):
            yield from every_key(value, where)
        else:
            yield where, value


def config_keys():
    """Every key of every file in conf/, with the overrides that select that file."""
    import yaml

    for path in sorted((ROOT / "conf").glob("*/*.yaml")):
        group = path.parent.name
        text = path.read_text()
        top = "" if "# @package _global_" in text else f"{group}."  # conf/search: global keys
        for key, value in every_key(yaml.safe_load(text)):
            if key.startswith(("defaults", "hydra.")):  # Hydra's; the search checks its own
                continue
            if key != "name" or group == "sched":  # a group's name picks its file
                yield [f"{group}={path.stem}"], f"{top}{key}", value
    for key, value in every_key({"seed": 0}):
        yield [], key, value


KEYS = list(config_keys())
# A schedule's name and a tracking run name may be any text; a run name of text is fine.
FREE_TEXT = {"sched.name", "tracking.run_name"}


@pytest.mark.parametrize(("group", "key", "value"), KEYS, ids=[f"{g} {k}" for g, k, _ in KEYS])
def test_a_bad_value_of_any_key_in_conf_is_refused_before_a_run(group, key, value):
    bad = wrong_kind(value)
    if key in FREE_TEXT and isinstance(bad, str):
        bad = [1]
    config = plain(compose(group))
    node = config
    *parents, last = key.split(".")
    for part in parents:
        node = node[part]
    node[last] = bad
    with pytest.raises(ConfigError) as caught:
        validate(config)
    assert str(caught.value).startswith(f"{key}:"), caught.value


# Mistakes as a user meets them on the command line: Hydra's own and lrchain's, one message each.
MISTAKES = [
    (["sched=nope"], "lrchain: sched: no option 'nope'; allowed: chain, chain_plateau"),
    (["trainer.foo=1"], "lrchain: trainer.foo: trainer has no key 'foo'; allowed: batch_size"),
    (["seed=abc"], "lrchain: seed: got 'abc'; allowed: a whole number"),
    (["optim.lr=nan"], "lrchain: optim.lr: got nan; allowed: a finite number above 0"),
    (["tracking.uri=ftp://example"], "lrchain: tracking.uri: got 'ftp://example'"),
    (["sched=exp", "sched.gamma=-1"], "lrchain: sched.gamma: got -1; allowed"),
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


def test_flattening_hostile_configs_never_collides(tmp_path):
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
    from mlflow import MlflowClient
    from mlflow.entities import Param

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.create_run(client.create_experiment("keys"))
    params = [Param(k, v) for k, v in flat.items()]
    client.log_batch(run.info.run_id, params=params)  # MLflow refuses a key it does not accept
    assert client.get_run(run.info.run_id).data.params == flat


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
