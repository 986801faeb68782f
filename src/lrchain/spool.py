"""A run's log, written beside training; what the store cannot take waits on disk.

Training hands each epoch and checkpoint to one writer thread and goes on at once. The writer
sends them in the order given, one request at a time (a job holds at most one connection to a
server), the epochs of up to WRITE_EVERY seconds in one request. A write that fails, because the
store is down or refuses it, is kept in this folder with every later one, and `lrchain sync
RUN_DIR` (lrchain.commands.sync) uploads them once the store answers again. Tags and the run's
end wait for every write handed over before them, so the status a run ends with tells what the
store holds. Epochs not yet sent when the process is killed are not lost for good: `lrchain
resume` computes them again from the last checkpoint.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lrchain import checkpoint, store
from lrchain.contract import ERROR_ARTIFACT

FOLDER = "lrchain-run"  # inside a job's output folder
RETRY_SECONDS = 20.0  # while the store is down, try it again at most this often
WRITE_EVERY = 3.0  # seconds: the epochs of this long go in one request (an epoch alone, if slower)
_STOP = object()  # tells the writer thread to end


class RunLog:
    """Sends a run's epochs, checkpoints and end to the store, or keeps them in `folder`."""

    def __init__(self, client: Any, run_id: str, artifact_uri: str, folder: Path):
        self.client, self.run_id, self.artifact_uri = client, run_id, artifact_uri
        self.folder = folder
        self.last_try = 0.0
        self.spooling = False  # the store missed a write: epochs go to `pending` until it is back
        self._work: queue.Queue = queue.Queue()
        self._writer: threading.Thread | None = None  # started by the first write handed over
        self._newest: dict | None = None  # the checkpoint to write next; older ones are skipped
        self._epochs: list[dict] = []  # epochs handed over, not sent yet
        self._due = 0.0  # when the writer sends the epochs waiting (time.monotonic)
        self._lock = threading.Lock()
        self._broken: BaseException | None = None  # this folder could not keep a write either
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

    # What training hands over: each returns at once.

    def epoch(
        self,
        epoch: int,
        metrics: dict[str, float],
        step_lrs: list[float],
        only_missing: bool = False,
    ) -> None:
        """Log one epoch (`only_missing`: what the store lacks of it); on failure keep it here."""
        record = {"epoch": epoch, "metrics": metrics, "step_lrs": step_lrs}
        if only_missing:  # a resume's epoch cut short by a kill: checked against the store now
            self._hand_over(self._send, [record], True)
            return
        with self._lock:
            self._epochs.append(record)
            batched = len(self._epochs) > 1  # the writer already waits to send this batch
        if batched and self._broken is None:
            return  # not woken for each epoch: a wake-up takes a training thread's core
        self._hand_over(self._send_epochs, False)

    def checkpoint(self, state: dict) -> None:
        """Keep `state` (a copy nobody changes) with the run; when the store is down, here."""
        with self._lock:
            self._newest = state
        self._hand_over(self._send_checkpoint)

    def later(self, fn: Callable, *args: Any) -> None:
        """Call `fn(*args)` on the writer, in order; a store that is down only loses it, warned."""
        self._hand_over(self._try, fn, *args)

    # What waits for every write before it.

    def wait(self) -> None:
        """Return once every write handed over is done: in the store, or kept in this folder."""
        if self._writer is not None:
            self._work.put((self._send_epochs, (True,)))
            self._work.join()

    def tag(self, tags: dict[str, str]) -> None:
        """Tags of the run, after every earlier write; lost quietly if the store is down."""
        self.wait()
        for key, value in tags.items():
            self._try(self.client.set_tag, self.run_id, key, value)

    def end(self, status: str, error: str | None = None) -> bool:
        """End the run with `status` (and error.txt); never raises; False when it waits on disk."""
        self.wait()
        self._stop()
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
        self.spooling = False
        return sent

    def sync(self) -> int:
        """Upload everything kept here and the run's final status; how many epochs were sent."""
        sent = self.flush()
        status_file = self.folder / "status"
        if status_file.exists():
            self.send_end(status_file.read_text().strip())
            status_file.unlink()
        return sent

    # The writer thread.

    def _hand_over(self, fn: Callable, *args: Any) -> None:
        if self._broken is not None:  # neither the store nor the disk took a write: stop here
            raise self._broken
        if self._writer is None:
            self._writer = threading.Thread(target=self._write, name="lrchain-writer", daemon=True)
            self._writer.start()
        self._work.put((fn, args))

    def _write(self) -> None:
        while True:
            with self._lock:  # epochs waiting: wake up when they are due
                wait = max(0.0, self._due - time.monotonic()) if self._epochs else None
            try:
                item = self._work.get(timeout=wait)
            except queue.Empty:
                self._run(self._send_epochs, (True,))
                continue
            if item is _STOP:
                self._work.task_done()
                return
            self._run(*item)
            self._work.task_done()

    def _run(self, fn: Callable, args: tuple = ()) -> None:
        try:
            fn(*args)
        except BaseException as err:  # the disk refused too: the next hand-over raises it
            self._broken = self._broken or err

    def _stop(self) -> None:
        """End the writer thread (every write is done); a later write starts a new one."""
        if self._writer is not None:
            self._work.put(_STOP)
            self._writer.join()
            self._writer = None

    def _send_epochs(self, now: bool) -> None:
        """Send the epochs waiting, together, if `now` or they are due (else the writer waits)."""
        with self._lock:
            if not self._epochs or not now and time.monotonic() < self._due:
                return
            records, self._epochs = self._epochs, []
        self._due = time.monotonic() + WRITE_EVERY
        self._send(records, False)

    def _send(self, records: list[dict], only_missing: bool) -> None:
        if not self.pending.exists():
            send = store.relog_missed if only_missing else _log_all
            if self._try(send, self.client, self.run_id, records):
                return
        self.spooling = True
        with self.pending.open("a") as handle:
            handle.writelines(json.dumps(record) + "\n" for record in records)
        if time.monotonic() - self.last_try > RETRY_SECONDS:
            self._try(self.flush)

    def _send_checkpoint(self) -> None:
        with self._lock:
            state, self._newest = self._newest, None
        if state is None:  # a newer one was handed over meanwhile, and is written already
            return
        if self.pending.exists() or not self._try(
            store.put_checkpoint, self.client, self.run_id, self.artifact_uri, state
        ):
            checkpoint.save_atomic(state, self.folder / "last.pt")

    def _try(self, fn: Callable, *args: Any) -> bool:
        self.last_try = time.monotonic()
        try:
            fn(*args)
        except Exception as err:
            if not self.pending.exists():
                print(
                    f"[lrchain] warning: the tracking store at {self.uri} {_failure(err)};"
                    f" training goes on and keeps its metrics in {self.folder} until the store"
                    f" takes them (`lrchain sync {self.folder}`)",
                    file=sys.stderr,
                    flush=True,
                )
            return False
        return True


def _log_all(client: Any, run_id: str, records: list[dict]) -> None:
    points = [store.epoch_points(r["epoch"], r["metrics"], r["step_lrs"]) for r in records]
    store.log_points(client, run_id, [point for epoch in points for point in epoch])


def _failure(err: Exception) -> str:
    """How a write failed, in words: the store is down, or it refused the write."""
    if isinstance(err, store.unreachable()):
        return f"does not answer ({type(err).__name__})"
    return f"refused a write ({type(err).__name__}: {str(err).splitlines()[0][:200]})"
