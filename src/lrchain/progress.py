"""One plain line per epoch: schedule, epoch, lr, losses, accuracy, time and time left."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import TextIO


class EpochPrinter:
    """Prints a line per epoch to `stream`; no control characters, so logs stay clean."""

    def __init__(self, name: str, epochs: int, stream: TextIO | None = None):
        self.name, self.epochs, self.stream = name, epochs, stream or sys.stdout
        self.start = time.perf_counter()
        self.done = 0  # epochs run by this process (a resumed run starts later)

    def __call__(self, epoch: int, metrics: Mapping[str, float]) -> None:
        self.done += 1
        elapsed = time.perf_counter() - self.start
        left = elapsed / self.done * (self.epochs - epoch - 1)
        width = len(str(self.epochs))
        line = (
            f"{self.name}  epoch {epoch + 1:>{width}}/{self.epochs}"
            f"  lr {metrics['lr']:.4g}"
            f"  train/loss {metrics['train/loss']:.4f}"
            f"  val/loss {metrics['val/loss']:.4f}"
            f"  val/acc {metrics['val/acc']:.4f}"
            f"  {metrics['epoch_seconds']:.2f}s"
            f"  left {left:.0f}s"
        )
        print(line, file=self.stream, flush=True)
