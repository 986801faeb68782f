"""A sweep ends with its comparison in the parent run; `lrchain compare` redoes it for any runs."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import clean_env, client_for, project, runs_of, train

from lrchain.cli import main as lrchain

pytestmark = pytest.mark.slow
RUN_FILES = {"lr.png", "loss.png", "summary.csv", "summary.md"}
FILES = RUN_FILES | {"groups.png", "groups.csv", "groups.md"}


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def compare(uri: str, out: Path, *args: str) -> int:
    """`lrchain compare ARGS --tracking-uri URI --out OUT`, in this process."""
    return lrchain(["compare", *args, "--tracking-uri", uri, "--out", str(out)])


def best_losses(rows: list[dict[str, str]]) -> list[float]:
    return [float(r["best_val_loss"]) for r in rows if r["best_val_loss"]]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """Two sweeps in one store: step vs exp over two seeds, and a good lr vs one that diverges."""
    folder = tmp_path_factory.mktemp("compare") / "project"
    project(folder)
    good = train(folder, "-m", "sched=step,exp", "seed=0,1", "trainer.epochs=2")
    bad = train(folder, "-m", "sched=exp", "optim.lr=0.05,1e20", "trainer.epochs=2", check=False)
    parents = [r for r in runs_of(folder) if r.data.tags.get("lrchain.sweep") == "true"]
    assert len(parents) == 2, [r.info.run_name for r in parents]
    return SimpleNamespace(folder=folder, good=good, bad=bad, parents=parents)


def test_sweep_end_stores_comparison_in_parent_and_sweep_folder(store, tmp_path):
    parent = store.parents[0]
    client = client_for(store.folder)
    listed = {Path(a.path).name for a in client.list_artifacts(parent.info.run_id, "comparison")}
    assert listed == FILES
    summary = Path(
        client.download_artifacts(parent.info.run_id, "comparison/summary.csv", tmp_path)
    )
    rows = read_rows(summary)
    names = ["sched=exp,seed=0", "sched=exp,seed=1", "sched=step,seed=0", "sched=step,seed=1"]
    assert sorted(r["run_name"] for r in rows) == names
    assert {r["status"] for r in rows} == {"FINISHED"} and {r["epochs"] for r in rows} == {"2"}
    assert best_losses(rows) == sorted(best_losses(rows))
    assert all(1 <= int(r["best_val_acc_epoch"]) <= 2 for r in rows)  # epochs count from 1
    final_lr = {r["sched"]: float(r["final_lr"]) for r in rows}
    assert final_lr == pytest.approx({"step": 0.1, "exp": 0.09})

    in_sweep_dir = store.folder / parent.data.params["sweep.dir"] / "comparison"
    assert {p.name for p in in_sweep_dir.iterdir()} == FILES
    assert (in_sweep_dir / "summary.csv").read_text() == summary.read_text()
    assert client.get_run(parent.info.run_id).info.status == "FINISHED"
    assert "note: drawing" not in store.good.stderr  # the sweep's helper drew every figure


def test_sweep_end_groups_seeds_prints_verdicts_and_tags_the_runs(store):
    parent = store.parents[0]
    client = client_for(store.folder)
    groups = read_rows(store.folder / parent.data.params["sweep.dir"] / "comparison/groups.csv")
    assert sorted(g["group"] for g in groups) == ["sched=exp", "sched=step"]
    assert [g["n"] for g in groups] == ["2", "2"] and groups[1]["test"] == "paired t"
    assert float(groups[0]["best_val_loss_mean"]) <= float(groups[1]["best_val_loss_mean"])

    out = store.good.stdout
    assert re.search(r"\| sched +\| n +\| best val/loss +\| min–max +\|", out)
    assert groups[1]["verdict"] in out and "a paired t-test over seeds" in out
    assert max(len(line) for line in out[out.index("| sched") :].splitlines()[:4]) <= 100

    metrics = client.get_run(parent.info.run_id).data.metrics
    for g in groups:
        name = g["label"]
        assert metrics[f"{name}/n"] == 2
        assert metrics[f"{name}/best_val_loss_mean"] == pytest.approx(
            float(g["best_val_loss_mean"])
        )
    assert f"{groups[1]['label']}/best_val_loss_ci_low" in metrics
    tags = {r.data.tags["lrchain.sched"]: r.data.tags["lrchain.group"] for r in children(store)}
    assert tags == {"step": "sched=step", "exp": "sched=exp"}


def children(store: SimpleNamespace) -> list:
    parent_id = store.parents[0].info.run_id
    return [r for r in runs_of(store.folder) if r.data.tags.get("mlflow.parentRunId") == parent_id]


def test_compare_group_by_reproduces_the_sweeps_groups_from_the_store(store, tmp_path):
    parent = store.parents[0]
    uri = f"sqlite:///{store.folder / 'mlflow.db'}"
    stored = store.folder / parent.data.params["sweep.dir"] / "comparison"
    assert compare(uri, tmp_path / "sched", parent.info.run_id, "--group-by", "sched") == 0
    for name in ("groups.csv", "groups.md"):
        assert (tmp_path / "sched" / name).read_text() == (stored / name).read_text()
    assert compare(uri, tmp_path / "runs", parent.info.run_id, "--group-by", "none") == 0
    assert {p.name for p in (tmp_path / "runs").iterdir()} == RUN_FILES
    by_acc = tmp_path / "acc"
    assert compare(uri, by_acc, parent.info.run_id, "--metric", "best_val_acc") == 0
    rows = read_rows(by_acc / "groups.csv")
    assert float(rows[0]["best_val_acc_mean"]) >= float(rows[1]["best_val_acc_mean"])
    assert rows[1]["metric"] == "best_val_acc"


def test_failed_child_is_listed_with_its_status(store, tmp_path):
    parent = store.parents[1]
    client = client_for(store.folder)
    assert store.bad.returncode == 1, store.bad.stderr[-2000:]
    assert client.get_run(parent.info.run_id).info.status == "FAILED"
    listed = {Path(a.path).name for a in client.list_artifacts(parent.info.run_id, "comparison")}
    assert listed == FILES
    rows = read_rows(
        Path(client.download_artifacts(parent.info.run_id, "comparison/summary.csv", tmp_path))
    )
    assert [r["status"] for r in rows] == ["FINISHED", "FAILED"]
    good, failed = rows
    assert good["run_name"] == "optim.lr=0.05" and good["epochs"] == "2"
    assert failed["epochs"] == "0" and failed["best_val_loss"] == ""
    assert client.get_run(failed["run_id"]).data.tags["lrchain.diverged"] == "true"
    assert "FAILED" in store.bad.stdout  # one run per group: the table of runs is printed
    groups = read_rows(
        Path(client.download_artifacts(parent.info.run_id, "comparison/groups.csv", tmp_path))
    )
    assert [(g["group"], g["n"], g["left_out"]) for g in groups] == [
        ("optim.lr=0.05", "1", "0"),
        ("optim.lr=1e+20", "0", "1"),
    ]


def test_compare_by_parent_id_uses_the_store_of_the_current_folder(store):
    parent = store.parents[0]
    proc = subprocess.run(
        [sys.executable, "-m", "lrchain", "compare", parent.info.run_id],
        cwd=store.folder,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out = store.folder / "comparison"
    assert {p.name for p in out.iterdir()} == FILES
    from_sweep = store.folder / parent.data.params["sweep.dir"] / "comparison" / "summary.csv"
    assert (out / "summary.csv").read_text() == from_sweep.read_text()
    assert "| step" in proc.stdout and "| exp" in proc.stdout
    per_run = subprocess.run(
        [sys.executable, "-m", "lrchain", "compare", parent.info.run_id, "--group-by", "none"],
        cwd=store.folder,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    table = [line for line in per_run.stdout.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 4 and max(len(line) for line in table) <= 100  # a terminal's width
    assert all(
        line.split("|")[1].strip() in (r.info.run_id[:8] for r in runs_of(store.folder))
        for line in table[2:]
    )  # ids shortened as README shows them


def test_compare_by_experiment_and_by_run_ids_across_sweeps(store, tmp_path):
    uri = f"sqlite:///{store.folder / 'mlflow.db'}"
    every = tmp_path / "all"
    assert compare(uri, every, "--experiment", "lrchain") == 0
    rows = read_rows(every / "summary.csv")
    assert len(rows) == 6  # the children of both sweeps, not their parents
    assert best_losses(rows) == sorted(best_losses(rows)) and rows[-1]["status"] == "FAILED"
    assert {p.name for p in every.iterdir()} == FILES

    picked = [rows[0]["run_id"], rows[-1]["run_id"]]
    out = tmp_path / "picked"
    assert compare(uri, out, "--runs", *picked) == 0
    assert [r["run_id"] for r in read_rows(out / "summary.csv")] == picked
    assert (out / "lr.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["0123456789abcdef"], "run '0123456789abcdef' not found at sqlite:///"),
        (["--experiment", "nope"], "no experiment 'nope' in this store; allowed: Default, lrchain"),
        (["--runs", "zzz"], "run 'zzz' not found"),
        (["--experiment", "lrchain", "--group-by", "shed"], "--group-by: no run has a param or"),
        (
            ["--experiment", "lrchain", "--metric", "loss"],
            "--metric: unknown figure 'loss'; allowed",
        ),
    ],
)
def test_compare_names_what_it_cannot_find(store, tmp_path, capsys, args, message):
    uri = f"sqlite:///{store.folder / 'mlflow.db'}"
    assert compare(uri, tmp_path, *args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_comparison_that_cannot_be_written_still_ends_the_parent_run(launch_dir):
    (launch_dir / "sweep").mkdir()
    (launch_dir / "sweep" / "comparison").write_text("a file where the folder would go")
    proc = train(launch_dir, "-m", "sched=step", "trainer.epochs=1", "hydra.sweep.dir=sweep")
    assert "warning: no comparison made: FileExistsError" in proc.stderr
    parent, child = runs_of(launch_dir)
    assert parent.info.status == "FINISHED" and child.info.status == "FINISHED"
    assert client_for(launch_dir).list_artifacts(parent.info.run_id, "comparison") == []


def test_a_sweep_whose_jobs_all_fail_early_ends_without_comparison(launch_dir):
    proc = train(launch_dir, "-m", "sched=step,exp", "trainer.epochs=0", check=False)
    assert proc.returncode == 1
    assert "no comparison: no job of this sweep logged a run" in proc.stdout
    (parent,) = runs_of(launch_dir)
    assert parent.info.status == "FAILED"
