"""A run's log (lrchain.spool.RunLog) against a real SQLite store: how epochs reach it."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from lrchain import spool, store
from lrchain.store.blank import blank_path


def new_run(folder: Path) -> tuple[object, str, str]:
    """A client of a new SQLite store in `folder`, a RUNNING run in it and its artifact URI."""
    shutil.copy(blank_path(), folder / "mlflow.db")
    client, experiment_id = store.open_experiment(f"sqlite:///{folder}/mlflow.db", "t", folder)
    info = client.create_run(experiment_id).info
    return client, info.run_id, info.artifact_uri


def test_epochs_go_in_one_request_per_interval_and_wake_the_writer_once_each(tmp_path, monkeypatch):
    monkeypatch.setattr(spool, "WRITE_EVERY", 0.5)
    client, run_id, artifact_uri = new_run(tmp_path)
    log = spool.RunLog(client, run_id, artifact_uri, tmp_path / "job" / spool.FOLDER)
    handed = []
    put = log._work.put
    monkeypatch.setattr(log._work, "put", lambda item: (handed.append(item), put(item)))
    for epoch in range(12):  # 1.2 s of epochs
        log.epoch(epoch, {"train/loss": 1.0 / (epoch + 1)}, [])
        time.sleep(0.1)
    log.wait()
    history = client.get_metric_history(run_id, "train/loss")
    assert sorted((m.step, m.value) for m in history) == [(e, 1.0 / (e + 1)) for e in range(12)]
    requests = len({m.timestamp for m in history})  # a request's points share its time stamp
    assert 2 <= requests <= 5, requests  # the first epoch at once, then one per 0.5 s
    # The writer is woken by the first epoch of each batch (and by wait()), not by every epoch.
    assert len(handed) <= requests + 1, (len(handed), requests)
    assert log.end("FINISHED")
    assert client.get_run(run_id).info.status == "FINISHED"


def test_a_new_run_s_config_files_are_written_in_its_local_artifact_folder(tmp_path):
    client, run_id, artifact_uri = new_run(tmp_path)
    texts = {"config/config.yaml": "a: 1\nb: [x, y]\n", "lr_expected.csv": "epoch,lr\n0,0.1\n"}
    store.put_texts(client, run_id, artifact_uri, texts)
    listed = {a.path for a in client.list_artifacts(run_id)}
    assert listed == {"config", "lr_expected.csv"}
    for path, text in texts.items():
        assert store.read_text(client, run_id, path) == text
