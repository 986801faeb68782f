"""A comparison's figures, drawn side by side by a helper process that a sweep starts early.

Drawing is single-threaded Python (matplotlib's import and layout, then Agg). A sweep's three
figures took about 1.3 s at its end, most of it a fresh process starting and importing
matplotlib. So a sweep on this host starts the helper first thing (`warm`), on the core its own
imports leave idle: `python -m lrchain.drawing --serve` imports matplotlib and waits. At the end
every figure goes to it (their arguments in a JSON file), and it draws them side by side, one
forked process per figure, all at once. Where none was started
(`lrchain compare`), one starts then; with one core, or where no Python process can start,
everything is drawn here. The same function draws the same figure from the same values in
either process. A figure the helper did not draw (it failed, died or took too long) is drawn
here, with a note.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrchain.cores import usable_cores

HELPER_TIMEOUT = 300  # seconds this process waits for the helper's figures before drawing them
_warm: _Helper | None = None  # started by `warm`, used by the next `draw_all`


@dataclass(frozen=True)
class Figure:
    """A figure to draw: the name of a lrchain.plots function and its arguments, plain values."""

    function: str
    kwargs: dict[str, Any]

    def draw(self) -> Path:
        from lrchain import plots

        return getattr(plots, self.function)(**self.kwargs)


def warm() -> None:
    """Start the helper now, so that matplotlib is loaded by the time figures come."""
    global _warm
    if _warm is None and usable_cores() > 1:
        _warm = _Helper.start()
        if _warm is not None:
            atexit.register(_warm.close)  # no figures came (a failed sweep): it ends too


def draw_all(figures: Sequence[Figure]) -> None:
    """Draw every figure of `figures`: by the helper where there are cores for it, else here."""
    global _warm
    helper, _warm = _warm, None
    try:  # what the helper is told; a value JSON cannot hold: every figure is drawn here
        payload = json.dumps([[f.function, _plain(f.kwargs)] for f in figures])
    except (TypeError, ValueError):
        payload = None
    if helper is None and payload is not None and len(figures) > 1 and usable_cores() > 1:
        helper = _Helper.start()
    failures: list[str | None] = [""] * len(figures)  # "": not sent; None: drawn by the helper
    if helper is not None:
        try:
            if payload is not None:
                failures = helper.draw(payload, len(figures))
        finally:
            helper.close()
    for figure, failure in zip(figures, failures, strict=True):
        if failure:
            print(f"[lrchain] note: drawing {_name(figure)} here ({failure})", file=sys.stderr)
        if failure is not None:
            figure.draw()


class _Helper:
    """The process drawing figures, and the file its error output goes to."""

    def __init__(self, process: subprocess.Popen, errors: Any):
        self.process, self.errors = process, errors
        self.timed_out = False
        self.said = ""  # the last line it wrote to stderr, once it ended

    @classmethod
    def start(cls) -> _Helper | None:
        """A helper loading matplotlib; None where one cannot start (figures are drawn here)."""
        import lrchain

        if not sys.executable or not hasattr(os, "fork"):  # embedded; Windows
            return None
        package_root = str(Path(lrchain.__file__).resolve().parents[1])  # this lrchain
        path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
        errors = tempfile.TemporaryFile("w+")  # noqa: SIM115  open while the helper lives
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "lrchain.drawing", "--serve"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
                env=os.environ | {"PYTHONPATH": path},
                start_new_session=True,  # Ctrl-C goes to the sweep; the helper ends with it
            )
        except OSError:
            errors.close()
            return None
        return cls(process, errors)

    def draw(self, payload: str, count: int) -> list[str | None]:
        """Have the helper draw the `count` figures of `payload`; per figure, None if it did,
        else why not."""
        fd, name = tempfile.mkstemp(prefix="lrchain-figures-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as file:
                file.write(payload)
            reply = self._ask(name)
        finally:
            Path(name).unlink(missing_ok=True)
        if reply is not None:
            return reply
        if self.timed_out:
            self.kill()
            return [f"not done in {HELPER_TIMEOUT} s"] * count
        self.close()
        why = f"the helper ended with exit status {self.process.returncode}: {self.said}"
        return [why.rstrip(": ")] * count

    def _ask(self, payload: str) -> list | None:
        """Send the payload's path; the helper's answer, None if it gave none in time."""
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        try:
            stdin.write(payload + "\n")
            stdin.flush()
            ready, _, _ = select.select([stdout], [], [], HELPER_TIMEOUT)
            line = stdout.readline() if ready else ""
        except (OSError, ValueError):  # it ended: a broken pipe
            return None
        self.timed_out = not ready
        return json.loads(line) if line.strip() else None

    def close(self) -> None:
        """Tell the helper there are no more figures and let it end (at once, if it is stuck)."""
        if self.process.poll() is None:
            try:
                self.process.stdin.close()  # type: ignore[union-attr]
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        self._read_errors()

    def kill(self) -> None:
        """End the helper and the figures it is drawing (its own process group)."""
        with contextlib.suppress(OSError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._read_errors()

    def _read_errors(self) -> None:
        if not self.errors.closed:
            self.errors.seek(0)
            self.said = " ".join(self.errors.read().strip().splitlines()[-1:])
            self.errors.close()


def _plain(value: Any) -> Any:
    """`value` as JSON holds it: paths as text, tuples as lists (plots functions take both)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _name(figure: Figure) -> str:
    return Path(str(figure.kwargs.get("path", figure.function))).name


def serve() -> None:
    """In the helper: load matplotlib, then draw the figures of each file named on stdin.

    Answers each file with one line: per figure, null if drawn, else the error's last line.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401  the slow part, done before any figure comes

    from lrchain import plots  # noqa: F401

    _first_figure()

    for line in sys.stdin:
        specs = json.loads(Path(line.strip()).read_text())
        figures = [Figure(name, kwargs | {"path": Path(kwargs["path"])}) for name, kwargs in specs]
        print(json.dumps(_side_by_side(figures)), flush=True)


def _side_by_side(figures: Sequence[Figure]) -> list[str | None]:
    """Draw `figures` at once, each in a forked process (a comparison has three); their errors.

    Forked together, the figures share the cores: on two, three of them end sooner than two
    first and the third after.
    """
    running: dict[int, tuple[int, int]] = {}  # pid -> (figure index, read end of its error pipe)
    for index, figure in enumerate(figures):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: draw, say why not, and end without the helper's clean-up
            os.close(read)
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # stdout carries the answers
            status = 0
            try:
                figure.draw()
            except BaseException:
                os.write(write, traceback.format_exc().strip().splitlines()[-1].encode())
                status = 1
            os._exit(status)
        os.close(write)
        running[pid] = (index, read)
    failures: list[str | None] = [None] * len(figures)
    while running:
        pid, status = os.wait()
        index, read = running.pop(pid)
        with os.fdopen(read, "rb") as reason:
            said = reason.read().decode(errors="replace")
        if status:
            failures[index] = said or f"exit status {os.waitstatus_to_exitcode(status)}"
    return failures


def _first_figure() -> None:
    """Draw and discard a small figure: fonts and caches loaded once, not in each fork."""
    import io

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(layout="constrained")
    ax.plot([1, 2], [1, 2], label="lr", marker="o")
    ax.set_yscale("log")
    ax.legend(fontsize="small")
    fig.suptitle("lrchain")
    fig.savefig(io.BytesIO(), format="png")
    plt.close(fig)


if __name__ == "__main__" and sys.argv[1:] == ["--serve"]:
    serve()
