"""A run's log that survives an unreachable store: what the store cannot take waits on disk.

`lrchain sync RUN_DIR` (lrchain.commands.sync) uploads it once the store answers again.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lrchain import checkpoint, store
from lrchain.contract import ERROR_ARTIFACT

FOLDER = "lrchain-run"  # inside a job's output folder
RETRY_SECONDS = 20.0  # while the store is down, try it again at most this often


class RunLog:
    """Sends a run's epochs, checkpoints and end to the store, or keeps them in `folder`."""

    def __init__(self, client: Any, run_id: str, artifact_uri: str, folder: Path):
        self.client, self.run_id, self.artifact_uri = client, run_id, artifact_uri
        self.folder = folder
        self.last_try = 0.0
        folder.mkdir(parents=True, exist_ok=True)
        info = {"run_id": run_id, "tracking_uri": client.tracking_uri}
        (folder / "run.json").write_text(json.dumps(info))

    @classmethod
    def reopen(cls, folder: Path) -> RunLog:
        """The log kept in `folder` (a job's output folder or its lrchain-run/)."""
        from lrchain.errors import TrackingError

        folder = folder / FOLDER if (folder / FOLDER).is_dir() else folder
        if not (folder / "run.json").exists():
            raise TrackingError(f"{folder}: no run.json here; give the job's output folder")
        info = json.loads((folder / "run.json").read_text())
        client = store.connect(info["tracking_uri"])
        artifact_uri = client.get_run(info["run_id"]).info.artifact_uri
        return cls(client, info["run_id"], artifact_uri, folder)

    @property
    def pending(self) -> Path:
        return self.folder / "pending.jsonl"

    @property
    def uri(self) -> str:
        return self.client.tracking_uri

    def epoch(self, epoch: int, metrics: dict[str, float], step_lrs: list[float]) -> None:
        """Log one epoch; on failure keep it (and every later one) on disk, in order."""
        if not self.pending.exists() and self._try(
            store.log_epoch, self.client, self.run_id, epoch, metrics, step_lrs
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
            store.put_checkpoint, self.client, self.run_id, self.artifact_uri, state
        ):
            checkpoint.save_atomic(state, self.folder / "last.pt")

    def tag(self, tags: dict[str, str]) -> None:
        """Tags of the run; lost quietly if the store is down (the status still tells)."""
        for key, value in tags.items():
            self._try(self.client.set_tag, self.run_id, key, value)

    def end(self, status: str, error: str | None = None) -> bool:
        """End the run with `status` (and error.txt); never raises; False when it waits on disk."""
        if error is not None:
            (self.folder / ERROR_ARTIFACT).write_text(error)
        if self.pending.exists():
            self._try(self.flush)
        if not self.pending.exists() and self._try(self.send_end, status):
            return True
        (self.folder / "status").write_text(status)
        print(
            f"[lrchain] warning: run {self.run_id} ended {status} but the store at {self.uri} has"
            f" not got everything; it waits in {self.folder}: run `lrchain sync {self.folder}`"
            " once the store answers",
            file=sys.stderr,
            flush=True,
        )
        return False

    def send_end(self, status: str) -> None:
        if (self.folder / ERROR_ARTIFACT).exists():
            self.client.log_artifact(self.run_id, str(self.folder / ERROR_ARTIFACT))
        self.client.set_terminated(self.run_id, status)

    def flush(self) -> int:
        """Upload what waits on disk (epochs the store lacks, the checkpoint); how many epochs."""
        sent = 0
        if self.pending.exists():
            records = [json.loads(line) for line in self.pending.read_text().splitlines()]
            sent = store.relog_missed(self.client, self.run_id, records)
            self.pending.unlink()
        kept = self.folder / "last.pt"
        if kept.exists():
            store.put_checkpoint(self.client, self.run_id, self.artifact_uri, checkpoint.load(kept))
            kept.unlink()
        return sent

    def sync(self) -> int:
        """Upload everything kept here and the run's final status; how many epochs were sent."""
        sent = self.flush()
        status_file = self.folder / "status"
        if status_file.exists():
            self.send_end(status_file.read_text().strip())
            status_file.unlink()
        return sent

    def _try(self, fn: Callable, *args: Any) -> bool:
        self.last_try = time.monotonic()
        try:
            fn(*args)
        except store.unreachable() as err:
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
