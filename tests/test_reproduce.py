"""`lrchain reproduce`: re-run from the logged config, compare, refuse untrusted configs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from conftest import client_for, history, lrchain, project, runs_of, train

from lrchain import checkpoint
from lrchain.configs import compose, parse_untrusted, plain
from lrchain.errors import ConfigError, TrackingError


@pytest.fixture(scope="module")
def logged(tmp_path_factory) -> tuple[Path, str]:

    folder = tmp_path_factory.mktemp("repro")
    project(folder)
    train(folder, "trainer.epochs=2")
    return folder, runs_of(folder)[0].info.run_id


@pytest.mark.slow
def test_reproduce_agrees_bit_for_bit_and_tags_the_new_run(logged):
    folder, run_id = logged
    proc = lrchain(folder, "reproduce", run_id)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "agree bit for bit" in proc.stdout
    again = [r for r in runs_of(folder) if r.data.tags.get("lrchain.reproduced_from") == run_id]
    assert len(again) == 1 and again[0].info.status == "FINISHED"
    assert history(folder, again[0].info.run_id, "train/loss") == history(
        folder, run_id, "train/loss"
    )
    assert "epoch_seconds" in proc.stdout and "(timing, not compared)" in proc.stdout


@pytest.mark.slow
def test_reproduce_with_changes_says_what_changed_and_what_moved(logged):
    folder, run_id = logged
    proc = lrchain(folder, "reproduce", run_id, "optim.lr=0.05")
    assert proc.returncode == 0, proc.stdout + proc.stderr  # changed on purpose: not a failure
    assert "changed on purpose: optim.lr: 0.1 -> 0.05" in proc.stdout
    assert "differ, as the changes make them" in proc.stdout
    lr_row = next(line for line in proc.stdout.splitlines() if line.startswith("lr "))
    assert float(lr_row.split()[-1]) == pytest.approx(0.05)


def test_reproduce_of_an_unknown_run_or_store_says_so(logged, tmp_path):
    folder, _ = logged
    proc = lrchain(folder, "reproduce", "0123456789abcdef0123456789abcdef")
    assert proc.returncode == 2
    assert "run '0123456789abcdef0123456789abcdef' not found at sqlite:///" in proc.stderr
    assert "Traceback" not in proc.stderr
    nowhere = lrchain(tmp_path, "reproduce", "0123456789abcdef0123456789abcdef")
    assert nowhere.returncode == 2
    assert "no MLflow store at sqlite:///" in nowhere.stderr and "--tracking-uri" in nowhere.stderr
    assert not (tmp_path / "mlflow.db").exists()  # reading never creates a store


HOSTILE = [
    ({"_target_": "os.system", "_args_": ["touch pwned"]}, "data"),
    ({"name": "subprocess.run"}, "model"),
    ({"name": "builtins.eval", "lr": 0.1}, "optim"),
    ({"type": "logging.os.system"}, "sched"),
    ({"chain": {"a": {"_target_": "builtins.eval"}}}, "sched"),
    ({"name": "digits", "val_fraction": "${oc.env:HOME}"}, "data"),
]


@pytest.mark.parametrize(("node", "key"), HOSTILE, ids=[str(h[0]) for h in HOSTILE])
def test_untrusted_configs_naming_other_objects_are_refused(node, key):
    import yaml

    from lrchain.validate import validate

    config = plain(compose([]))
    config[key] = node
    with pytest.raises(ConfigError) as caught:
        validate(parse_untrusted(yaml.safe_dump(config), "a logged config"))
    assert str(caught.value).startswith(key)


@pytest.mark.slow
def test_a_tampered_logged_config_is_refused_before_anything_runs(logged, tmp_path):
    folder, run_id = logged
    client = client_for(folder)
    bad = tmp_path / "config"
    bad.mkdir()
    (bad / "config.yaml").write_text(
        Path(client.download_artifacts(run_id, "config/config.yaml")).read_text()
        + "evil:\n  _target_: os.system\n  _args_: ['touch pwned']\n"
    )
    victim = client.create_run(runs_of(folder)[0].info.experiment_id, run_name="tampered")
    client.log_artifacts(victim.info.run_id, str(bad), "config")
    client.set_terminated(victim.info.run_id)
    before = len(runs_of(folder))
    proc = lrchain(folder, "reproduce", victim.info.run_id)
    assert proc.returncode == 2
    assert "evil._target_" in proc.stderr and "os.system" in proc.stderr
    assert len(runs_of(folder)) == before
    assert not (folder / "pwned").exists()


class Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned-by-checkpoint",))


def test_a_malicious_checkpoint_is_rejected_by_weights_only_loading(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"model": Payload()}, tmp_path / "last.pt")
    with pytest.raises(TrackingError, match="refused to load it"):
        checkpoint.load(tmp_path / "last.pt")
    assert not (tmp_path / "pwned-by-checkpoint").exists()


def test_reproduce_warns_when_code_or_libraries_differ():
    from lrchain.commands.reproduce import version_warnings
    from lrchain.provenance import code_tags

    now = code_tags()
    assert version_warnings(dict(now)) == []
    old = dict(now) | {"lrchain.torch": "1.0.0", "lrchain.git_commit": "0" * 40}
    warnings = version_warnings(old)
    assert any("lrchain.torch: the run was made with 1.0.0" in w for w in warnings)
    assert any("lrchain.git_commit" in w for w in warnings)
