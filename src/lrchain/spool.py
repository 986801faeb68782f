"""A run's log that survives an unreachable store: what the store cannot take waits on disk.

`lrchain sync RUN_DIR` uploads it once the store answers again.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from lrchain import checkpoint, tracking
from lrchain.errors import TrackingError

FOLDER = "lrchain-run"  # inside a job's output folder
RETRY_SECONDS = 20.0  # while the store is down, try it again at most this often


def _unreachable() -> tuple[type[BaseException], ...]:
    from mlflow.exceptions import MlflowException
    from requests.exceptions import RequestException

    return (MlflowException, RequestException, OSError)


class RunLog:
    """Sends a run's epochs, checkpoints and end to the store, or keeps them in `folder`."""

    def __init__(self, client: Any, run_id: str, uri: str, artifact_uri: str, folder: Path):
        self.client, self.run_id, self.uri, self.artifact_uri = client, run_id, uri, artifact_uri
        self.folder = folder
        self.last_try = 0.0
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "run.json").write_text(json.dumps({"run_id": run_id, "tracking_uri": uri}))

    @property
    def pending(self) -> Path:
        return self.folder / "pending.jsonl"

    def epoch(self, epoch: int, metrics: dict[str, float], step_lrs: list[float]) -> None:
        """Log one epoch; on failure keep it (and every later one) on disk, in order."""
        if not self.pending.exists() and self._try(
            tracking.log_epoch, self.client, self.run_id, epoch, metrics, step_lrs
        ):
            return
        record = {"epoch": epoch, "metrics": metrics, "step_lrs": step_lrs}
        with self.pending.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        if time.monotonic() - self.last_try > RETRY_SECONDS:
            self._try(self.flush)

    def checkpoint(self, state: dict) -> None:
        """Keep `state` with the run; when the store is down, in this folder until synced."""
        if self.pending.exists() or not self._try(
            checkpoint.store, self.client, self.run_id, self.artifact_uri, state
        ):
            checkpoint.save_atomic(state, self.folder / "last.pt")

    def end(self, status: str, error: str | None = None) -> None:
        """End the run with `status` (and error.txt); never raises, keeps what cannot be sent."""
        if error is not None:
            (self.folder / "error.txt").write_text(error)
        if self.pending.exists():
            self._try(self.flush)
        if not self.pending.exists() and self._try(self.send_end, status):
            return
        (self.folder / "status").write_text(status)
        print(
            f"[lrchain] warning: run {self.run_id} ended {status} but the store at {self.uri} has"
            f" not got everything; it waits in {self.folder}: run `lrchain sync {self.folder}`"
            " once the store answers",
            file=sys.stderr,
            flush=True,
        )

    def send_end(self, status: str) -> None:
        if (self.folder / "error.txt").exists():
            self.client.log_artifact(self.run_id, str(self.folder / "error.txt"))
        self.client.set_terminated(self.run_id, status)

    def flush(self) -> int:
        """Upload what waits on disk (epochs the store lacks, the checkpoint); how many epochs."""
        logged = {m.step for m in self.client.get_metric_history(self.run_id, "lr")}
        sent = 0
        if self.pending.exists():
            for line in self.pending.read_text().splitlines():
                record = json.loads(line)
                if record["epoch"] not in logged:
                    tracking.log_epoch(
                        self.client,
                        self.run_id,
                        record["epoch"],
                        record["metrics"],
                        record["step_lrs"],
                    )
                    sent += 1
            self.pending.unlink()
        kept = self.folder / "last.pt"
        if kept.exists():
            checkpoint.store(self.client, self.run_id, self.artifact_uri, checkpoint.load(kept))
            kept.unlink()
        return sent

    def _try(self, fn, *args) -> bool:
        self.last_try = time.monotonic()
        try:
            fn(*args)
        except _unreachable() as err:
            if not self.pending.exists():
                print(
                    f"[lrchain] warning: the tracking store at {self.uri} does not answer"
                    f" ({type(err).__name__}); training goes on and keeps its metrics in"
                    f" {self.folder} until the store is back (`lrchain sync {self.folder}`)",
                    file=sys.stderr,
                    flush=True,
                )
            return False
        return True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dir",
        metavar="RUN_DIR",
        help="a job's output folder (or its lrchain-run/ folder) holding what the store missed",
    )


def run(args: argparse.Namespace) -> int:
    from mlflow import MlflowClient

    folder = Path(args.run_dir)
    folder = folder / FOLDER if (folder / FOLDER).is_dir() else folder
    if not (folder / "run.json").exists():
        raise TrackingError(f"{folder}: no run.json here; give the job's output folder")
    info = json.loads((folder / "run.json").read_text())
    tracking.limit_retries()
    client = MlflowClient(info["tracking_uri"])
    try:
        run_info = client.get_run(info["run_id"]).info
        log = RunLog(client, info["run_id"], info["tracking_uri"], run_info.artifact_uri, folder)
        sent = log.flush()
        status_file = folder / "status"
        if status_file.exists():
            log.send_end(status_file.read_text().strip())
            status_file.unlink()
    except _unreachable() as err:
        raise TrackingError(
            f"the store at {info['tracking_uri']} still does not answer ({type(err).__name__});"
            " nothing was lost: run the same command again once it is up"
        ) from None
    status = client.get_run(info["run_id"]).info.status
    print(f"[lrchain] run {info['run_id']}: {sent} epochs uploaded; its status is {status}")
    return 0
