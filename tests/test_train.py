"""End to end through the real `python train.py` command line and a real SQLite MLflow store."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pytest
import yaml
from conftest import artifact_text, clean_env, client_for, history, project, runs_of, train

from lrchain.schedules import expected_lrs

CORE = {
    "step": lambda e: 0.1 * 0.5 ** (e // 3),
    "exp": lambda e: 0.1 * 0.9**e,
    "chain": lambda e: 0.1 * 0.5 ** (e // 3) * 0.9**e,
}
METRICS = ("lr", "train/loss", "val/loss", "val/acc", "epoch_seconds")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """The README's sweep, shortened to 4 epochs, in a fresh folder."""

    folder = tmp_path_factory.mktemp("sweep")
    project(folder)
    proc = train(folder, "-m", "sched=step,exp,chain", "trainer.epochs=4")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("epoch 4/4 ")]
    assert sorted(ln.rsplit(" ", 1)[1] for ln in lines) == ["chain", "exp", "step"], proc.stdout
    logs = sorted(folder.glob("multirun/*/*/*/train.log"))  # each job's lines, in its folder
    assert len(logs) == 3 and all("epoch 4/4 " in log.read_text() for log in logs)
    return folder


@pytest.mark.slow
def test_sweep_logs_three_finished_runs_with_everything_the_ui_shows(sweep):
    runs = runs_of(sweep)
    parent = [r for r in runs if r.data.tags.get("lrchain.sweep") == "true"]
    children = [r for r in runs if r not in parent]
    assert len(parent) == 1 and parent[0].info.status == "FINISHED"
    assert sorted(r.info.run_name for r in children) == ["chain", "exp", "step"]
    client = client_for(sweep)
    for run in children:
        name = run.info.run_name
        assert run.info.status == "FINISHED"
        assert run.data.tags["lrchain.sched"] == name
        assert run.data.tags["mlflow.parentRunId"] == parent[0].info.run_id
        assert run.data.params["optim.lr"] == "0.1"
        assert run.data.params["trainer.epochs"] == "4"
        assert run.data.params["sched.name"] == name
        for key in METRICS:
            assert [s for s, _ in history(sweep, run.info.run_id, key)] == [0, 1, 2, 3], key
        lrs = [v for _, v in history(sweep, run.info.run_id, "lr")]
        for epoch, lr in enumerate(lrs):
            assert math.isclose(lr, CORE[name](epoch), rel_tol=1e-9)
        paths = {a.path for a in client.list_artifacts(run.info.run_id, "config")}
        assert paths == {"config/config.yaml", "config/overrides.yaml"}
        overrides = yaml.safe_load(artifact_text(sweep, run.info.run_id, "config/overrides.yaml"))
        assert f"sched={name}" in overrides
    assert (
        "sched.chain.exp.gamma"
        in [r for r in children if r.info.run_name == "chain"][0].data.params
    )


@pytest.mark.slow
def test_artifacts_land_in_the_launch_folder_mlruns(sweep):
    run = [r for r in runs_of(sweep) if r.info.run_name == "chain"][0]
    assert Path(run.info.artifact_uri.removeprefix("file://")).is_relative_to(sweep / "mlruns")
    assert not (sweep / "outputs").exists() or not list((sweep / "outputs").rglob("mlflow.db"))


@pytest.mark.slow
def test_logged_config_reruns_as_is_with_the_same_numbers(sweep, tmp_path):
    client = client_for(sweep)
    run = [r for r in runs_of(sweep) if r.info.run_name == "exp"][0]
    config_dir = Path(client.download_artifacts(run.info.run_id, "config", str(tmp_path)))

    project(tmp_path)
    threads = run.data.tags["lrchain.threads"]  # a job beside others trained on fewer threads
    train(
        tmp_path,
        "--config-dir",
        str(config_dir),
        "--config-name",
        "config",
        f"trainer.threads={threads}",
    )
    again = runs_of(tmp_path)[0]
    assert again.info.run_name == "exp"  # the logged config, not conf/config.yaml (chain)
    for key in ("lr", "train/loss", "val/loss", "val/acc"):
        first = history(sweep, run.info.run_id, key)
        assert history(tmp_path, again.info.run_id, key) == first, key


@pytest.mark.slow
def test_single_run_takes_overrides_and_chdir_keeps_one_store(launch_dir):
    train(
        launch_dir,
        "trainer.epochs=2",
        "optim.lr=0.05",
        "seed=3",
        "tracking.experiment=mine",
        "hydra.job.chdir=true",
    )
    [run] = runs_of(launch_dir, "mine")
    assert run.info.status == "FINISHED" and run.info.run_name == "chain"
    assert run.data.params["seed"] == "3"
    lrs = [v for _, v in history(launch_dir, run.info.run_id, "lr")]
    assert lrs[0] == 0.05 and math.isclose(lrs[1], 0.05 * 0.9, rel_tol=1e-12)
    assert list(launch_dir.rglob("mlflow.db")) == [launch_dir / "mlflow.db"]
    assert Path(run.info.artifact_uri.removeprefix("file://")).is_relative_to(launch_dir / "mlruns")


@pytest.mark.slow
def test_tracking_uri_from_environment_and_from_override(launch_dir, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = clean_env(MLFLOW_TRACKING_URI=f"sqlite:///{elsewhere / 'mlflow.db'}")
    train(launch_dir, "trainer.epochs=1", env=env)
    train(launch_dir, "trainer.epochs=1", f"tracking.uri=sqlite:///{elsewhere / 'mlflow.db'}")
    assert len(runs_of(elsewhere)) == 2
    assert not (launch_dir / "mlflow.db").exists()


@pytest.mark.slow
def test_same_config_and_seed_give_bit_identical_histories(launch_dir):
    train(launch_dir, "trainer.epochs=3", "sched=exp")
    train(launch_dir, "trainer.epochs=3", "sched=exp")
    first, second = runs_of(launch_dir)
    for key in ("train/loss", "val/loss", "val/acc"):
        assert history(launch_dir, first.info.run_id, key) == history(
            launch_dir, second.info.run_id, key
        )
    assert len({v for _, v in history(launch_dir, first.info.run_id, "train/loss")}) == 3


@pytest.mark.slow
def test_every_catalog_schedule_trains_and_uses_its_expected_curve(launch_dir):
    from lrchain.commands.preview import catalog

    names = catalog()
    train(launch_dir, "-m", f"sched={','.join(names)}", "trainer.epochs=3")
    children = [r for r in runs_of(launch_dir) if "mlflow.parentRunId" in r.data.tags]
    assert sorted(r.data.tags["lrchain.sched"] for r in children) == names
    for run in children:
        assert run.info.status == "FINISHED", run.info.run_name
        rid = run.info.run_id
        logged = [v for _, v in history(launch_dir, rid, "lr")]
        text = artifact_text(launch_dir, rid, "lr_expected.csv")
        config = yaml.safe_load(artifact_text(launch_dir, rid, "config/config.yaml"))
        expected = [float(row["lr"]) for row in csv.DictReader(io.StringIO(text))]
        if "ReduceLROnPlateau" in str(config["sched"]):
            losses = [v for _, v in history(launch_dir, rid, "val/loss")]
            import torch

            opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
            expected, _ = expected_lrs(config["sched"], opt, 3, 23, {"val/loss": losses})
        assert logged == expected, run.info.run_name
        if run.data.tags["lrchain.sched"] in ("onecycle", "cyclic"):
            steps = history(launch_dir, rid, "lr_step")
            assert [s for s, _ in steps] == list(range(3 * 23))
