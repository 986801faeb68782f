"""A new SQLite store: a copy of a blank one MLflow made once, as good as one MLflow creates."""

from __future__ import annotations

import sqlite3
from importlib import metadata
from pathlib import Path

import pytest

from lrchain import store
from lrchain.store.blank import blank_path


def experiments(db: Path) -> list[tuple]:
    query = "SELECT experiment_id, name, artifact_location FROM experiments ORDER BY 1"
    with sqlite3.connect(db) as con:
        return con.execute(query).fetchall()


def opened(folder: Path) -> tuple:
    folder.mkdir()
    return store.open_experiment(f"sqlite:///{folder / 'mlflow.db'}", "lrchain", folder)


def test_new_stores_are_copies_of_one_blank_store_rooted_in_their_own_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    monkeypatch.setenv("LRCHAIN_CACHE", str(tmp_path / "cache"))
    opened(tmp_path / "a")
    assert "the first store on this machine)" in capsys.readouterr().out
    blank = blank_path()
    assert f"mlflow-{metadata.version('mlflow')}" in blank.name
    assert experiments(blank) == []  # MLflow adds Default to each copy, in the copy's folder
    made = blank.stat().st_mtime_ns

    client, experiment_id = opened(tmp_path / "b")
    assert "[lrchain] new store" in capsys.readouterr().out
    assert blank.stat().st_mtime_ns == made  # copied, not made again
    assert experiments(tmp_path / "b" / "mlflow.db") == [
        (0, "Default", str(tmp_path / "b" / "mlruns" / "0")),
        (1, "lrchain", str(tmp_path / "b" / "mlruns" / "1")),
    ]
    run_id = client.create_run(experiment_id).info.run_id
    client.log_metric(run_id, "lr", 0.1, step=0)
    client.log_text(run_id, "x", "config/config.yaml")
    assert [m.value for m in client.get_metric_history(run_id, "lr")] == [0.1]
    assert (tmp_path / "b" / "mlruns" / "1" / run_id / "artifacts" / "config").is_dir()


def test_a_cache_that_cannot_be_written_leaves_mlflow_to_create_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("LRCHAIN_CACHE", str(tmp_path / "not-a-folder"))
    client, experiment_id = opened(tmp_path / "a")
    assert experiments(tmp_path / "a" / "mlflow.db") == [
        (0, "Default", str(tmp_path / "a" / "mlruns" / "0")),
        (1, "lrchain", str(tmp_path / "a" / "mlruns" / "1")),
    ]
    assert client.get_experiment(experiment_id).name == "lrchain"
