"""The bench's measuring kit: figures, table rows, the machine, and runs in throw-away folders."""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lrchain.tables import markdown

ROOT = Path(__file__).resolve().parents[1]
HEADER = ("figure", "lrchain", "baseline", "ratio", "target", "met?")


@dataclass
class Stat:
    """Repeated measurements of one figure."""

    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def show(self, fmt: str) -> str:
        med = format(self.median, fmt)
        if len(self.samples) == 1:
            return f"{med} (n=1)"
        return f"{med} ({min(self.samples):{fmt}}-{max(self.samples):{fmt}}, n={len(self.samples)})"


@dataclass
class Row:
    """One line of the table: lrchain's figure, the baseline's, and the target they meet."""

    figure: str
    ours: Stat | None
    base: Stat | None = None
    fmt: str = ".2f"
    target: str = "-"
    met: Callable[[float, float | None], bool] | None = None  # (ours, ratio) -> met?
    text: str = "n/a"  # shown when there is no measurement
    ok: bool | None = None  # met or not, for a row without a measurement
    paired: bool = False  # sample i of ours and of base ran side by side (one after the other)

    @property
    def ratio(self) -> float | None:
        """ours / base: the median of the pairs' own ratios where paired, else of the medians.

        A pair shares the machine's load of that minute, which on a shared machine moves both
        by more than the few per cent some targets are about; its own ratio cancels that.
        """
        if not (self.ours and self.base):
            return None
        pairs = zip(self.ours.samples, self.base.samples, strict=False)
        if self.paired and len(self.ours.samples) == len(self.base.samples):
            return statistics.median(o / b for o, b in pairs)
        return self.ours.median / self.base.median

    def cells(self) -> list[str]:
        ours = self.ours.show(self.fmt) if self.ours else self.text
        base = self.base.show(self.fmt) if self.base else "-"
        ratio = self.ratio
        ok = self.ok
        if self.met is not None and self.ours is not None:
            with contextlib.suppress(TypeError):  # a ratio target without a baseline: no verdict
                ok = self.met(self.ours.median, ratio)
        met = "-" if ok is None else "yes" if ok else "**no**"
        ratio_cell = "-" if ratio is None else f"{ratio:.2f}x"
        return [self.figure, ours, base, ratio_cell, self.target, met]


@dataclass
class Plan:
    """How much to repeat, and where to train."""

    reps: int  # repetitions of the quick figures
    sweep_reps: int  # repetitions of the sweep figures
    epochs: int  # of the default sweep and of the logged run
    threads: int  # intra-op threads of every measurement (trainer.threads=auto resolved, or N)
    device: object
    cfg: dict
    fixed: bool = False  # --threads N: lrchain's subprocesses get trainer.threads=N

    @property
    def thread_args(self) -> list[str]:
        """The override a `train.py` subprocess needs for this plan's thread count."""
        return [f"trainer.threads={self.threads}"] if self.fixed else []


def table(rows: list[Row]) -> str:
    """The rows as one Markdown table, ending in a newline."""
    return markdown(HEADER, [row.cells() for row in rows])


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def load_average() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def machine(threads: int, default: int) -> str:
    """The CPU, GPU, versions, threads and load, in one line."""
    import torch

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        names = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"
    return (
        f"{cpu}, {os.cpu_count()} cores{gpu}; Python {platform.python_version()}, torch"
        f" {torch.__version__}, {threads} intra-op thread(s) (torch's default here: {default}),"
        f" OpenMP waits passive; load average {load_average()}"
    )


def user_env(threads: int, **extra: str) -> dict[str, str]:
    """A user's shell, with the bench's thread count and OpenMP waiting as lrchain's train.py
    has it (read at start), so that hand-written baselines differ from lrchain in code only."""
    from lrchain.testing import clean_env  # imports torch: not before --help is answered

    return clean_env(OMP_NUM_THREADS=str(threads), OMP_WAIT_POLICY="PASSIVE") | extra


@functools.cache
def empty_store() -> Path:
    """An empty SQLite store with MLflow's tables: lrchain's blank store (lrchain.store.blank).

    Copies skip the schema set-up, and MLflow roots the Default experiment in each copy's folder.
    """
    from lrchain.store.blank import blank_path, copy_blank

    folder = Path(tempfile.mkdtemp(prefix="lrchain-bench-store-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    if not copy_blank(folder / "mlflow.db"):
        raise RuntimeError(f"could not make or copy the blank store {blank_path()}")
    return folder / "mlflow.db"


@contextlib.contextmanager
def launch_folder(store: bool = True) -> Iterator[Path]:
    """A temporary folder with conf/ and train.py linked in, and an empty store (or none).

    Users run many sweeps into one store, so the sweeps start from an existing, empty one; a
    store's first creation (MLflow's schema migrations, 2-6 s here) is measured on its own.
    """
    from lrchain import testing

    with tempfile.TemporaryDirectory(prefix="lrchain-bench-") as tmp:
        folder = testing.launch_folder(Path(tmp))
        if store:
            shutil.copy(empty_store(), folder / "mlflow.db")
        yield folder


def timed_run(
    args: list[str], folder: Path, threads: int, env: dict[str, str] | None = None
) -> float:
    """Wall seconds of `python ARGS` in `folder`; raises with its output tail when it fails."""
    env = env or user_env(threads)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, *args], cwd=folder, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}")
    return seconds
