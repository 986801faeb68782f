"""Section `server`: 8 parallel jobs logging to one local `mlflow server`; every row counted."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from harness import Plan, Row, Stat, launch_folder, timed_run

TITLE = "server: 8 parallel jobs logging to a local mlflow server"
JOBS = 8
WORKERS = 2  # the server's worker processes, each with its own database pool
PER_EPOCH = ("lr", "train/loss", "val/loss", "val/acc", "epoch_seconds")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def mlflow_server(folder: Path) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1 with a SQLite backend; stopped by its process group."""
    from lrchain.testing import clean_env, stop_group

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
        + ["--backend-store-uri", f"sqlite:///{folder / 'server.db'}"]
        + ["--workers", str(WORKERS)],
        cwd=folder,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("mlflow server did not start") from None
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_group(server)


def count_rows(uri: str, epochs: int) -> tuple[int, int, int]:
    """Metric rows logged by the sweep's jobs, rows expected, and runs ended FINISHED."""
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("lrchain")
    runs = client.search_runs([experiment.experiment_id], "tags.mlflow.parentRunId != ''")
    rows = sum(len(client.get_metric_history(r.info.run_id, k)) for r in runs for k in PER_EPOCH)
    finished = sum(r.info.status == "FINISHED" for r in runs)
    return rows, JOBS * epochs * len(PER_EPOCH), finished


def rows(plan: Plan) -> list[Row]:
    from lrchain.testing import clean_env

    args = ["train.py", "-m", f"seed={','.join(map(str, range(JOBS)))}", "hydra/launcher=joblib"]
    args += [f"hydra.launcher.n_jobs={JOBS}", f"trainer.epochs={plan.epochs}", *plan.thread_args]
    with (
        tempfile.TemporaryDirectory(prefix="lrchain-bench-server-") as tmp,
        mlflow_server(Path(tmp)) as uri,
        launch_folder(store=False) as folder,
    ):
        wall = timed_run([*args, f"tracking.uri={uri}"], folder, 0, clean_env())
        logged, expected, finished = count_rows(uri, plan.epochs)
    figure = f"{JOBS} parallel jobs x {plan.epochs} epochs to mlflow server ({WORKERS} workers)"
    return [
        Row(f"{figure}, wall (s)", Stat([wall])),
        Row(
            f"  metric rows logged / expected, runs FINISHED / {JOBS}",
            None,
            text=f"{logged} / {expected}, {finished} / {JOBS}",
            target="none lost",
            ok=logged == expected and finished == JOBS,
        ),
    ]
