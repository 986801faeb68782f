"""What a run tells a person while it trains: one aligned line per epoch, and a closing line.

Lines go to the `lrchain` logger: train.py's Hydra logging config sends them to the console and
to the job's train.log; the `lrchain` command sends them to the console (`to_console`).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping

from lrchain.contract import EPOCH_SECONDS, LR, TRAIN_LOSS, VAL_ACC, VAL_LOSS

LOG = logging.getLogger("lrchain")


def to_console() -> None:
    """Show lrchain's lines on stdout when no logging is configured (outside Hydra's jobs)."""
    if not LOG.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        LOG.addHandler(handler)
        LOG.setLevel(logging.INFO)
        LOG.propagate = False


class EpochPrinter:
    """A line per epoch, every column at a fixed width, the run's name last.

    Columns line up across runs whatever their names, so lines of parallel jobs read as a table.
    """

    def __init__(self, name: str, epochs: int):
        self.name, self.epochs = name, epochs
        self.start = time.perf_counter()
        self.done = 0  # epochs run by this process (a resumed run starts later)

    def __call__(self, epoch: int, metrics: Mapping[str, float]) -> None:
        self.done += 1
        elapsed = time.perf_counter() - self.start
        left = elapsed / self.done * (self.epochs - epoch - 1)
        width = len(str(self.epochs))
        LOG.info(
            f"epoch {epoch + 1:>{width}}/{self.epochs}"
            f"  lr {metrics[LR]:.3e}"
            f"  train/loss {metrics[TRAIN_LOSS]:.4f}"
            f"  val/loss {metrics[VAL_LOSS]:.4f}"
            f"  val/acc {metrics[VAL_ACC]:.4f}"
            f"  {metrics[EPOCH_SECONDS]:5.2f}s"
            f"  left {_duration(left):>6}"
            f"  {self.name}"
        )


def summary_line(name: str, run_id: str, history: list[dict]) -> str:
    """How a run ended, in one line: its best val/loss and val/acc, with their epochs."""
    if not history:
        return f"[lrchain] {name} ({run_id}) logged no epoch"
    metrics = [h["metrics"] for h in history]
    best = min(range(len(metrics)), key=lambda i: metrics[i][VAL_LOSS])
    acc = max(range(len(metrics)), key=lambda i: (metrics[i][VAL_ACC], -i))
    return (
        f"[lrchain] {name} ({run_id}) done: best val/loss {metrics[best][VAL_LOSS]:.4f}"
        f" at epoch {history[best]['epoch'] + 1}, best val/acc {metrics[acc][VAL_ACC]:.4f}"
        f" at epoch {history[acc]['epoch'] + 1}, {len(history)} epochs"
    )


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
