"""A comparison's figures drawn side by side: one in a helper process while this one draws the rest.

Drawing is single-threaded Python (matplotlib's layout, then Agg): a sweep's three figures took
about 2 s at its end, on one core, while the other waited. Where this process may use a second
core, the last figure goes to a fresh Python process (`python -m lrchain.drawing FILE`, the
figure's arguments in a JSON file) and this one draws the others meanwhile. The same function
draws the same figure from the same values in either process. A helper that cannot start, fails
or takes too long changes nothing but the time: its figure is then drawn here, with a note.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrchain.cores import usable_cores

HELPER_TIMEOUT = 300  # seconds this process waits for the helper's figure before drawing it itself


@dataclass(frozen=True)
class Figure:
    """A figure to draw: the name of a lrchain.plots function and its arguments, plain values."""

    function: str
    kwargs: dict[str, Any]

    def draw(self) -> Path:
        from lrchain import plots

        return getattr(plots, self.function)(**self.kwargs)


def draw_all(figures: Sequence[Figure]) -> None:
    """Draw every figure of `figures`; the last in a helper process where there are cores for it."""
    helper = _start(figures[-1]) if len(figures) > 1 and usable_cores() > 1 else None
    try:
        for figure in figures[: -1 if helper else None]:
            figure.draw()
    except BaseException:
        if helper is not None:
            helper.stop()
        raise
    if helper is not None:
        helper.finish()


class _Helper:
    """The process drawing one figure, and the file that told it what to draw."""

    def __init__(self, figure: Figure, process: subprocess.Popen, payload: Path):
        self.figure, self.process, self.payload = figure, process, payload

    def finish(self) -> None:
        """Wait for the figure; draw it here if the helper did not."""
        try:
            _, err = self.process.communicate(timeout=HELPER_TIMEOUT)
            failed = err.strip().splitlines()[-1:] if self.process.returncode else []
            reason = f"exit status {self.process.returncode}: {' '.join(failed)}".rstrip(": ")
        except subprocess.TimeoutExpired:
            self.stop()
            reason = f"not done in {HELPER_TIMEOUT} s"
        self.payload.unlink(missing_ok=True)
        if self.process.returncode != 0:
            print(f"[lrchain] note: drawing {_name(self.figure)} here ({reason})", file=sys.stderr)
            self.figure.draw()

    def stop(self) -> None:
        self.process.kill()
        self.process.communicate()
        self.payload.unlink(missing_ok=True)


def _start(figure: Figure) -> _Helper | None:
    """A helper process drawing `figure`; None where one cannot start (the caller draws it)."""
    import lrchain

    if not sys.executable:  # an embedded interpreter: no Python to start
        return None
    fd, name = tempfile.mkstemp(prefix="lrchain-figure-", suffix=".json")
    payload = Path(name)
    try:
        with os.fdopen(fd, "w") as file:
            json.dump({"function": figure.function, "kwargs": _plain(figure.kwargs)}, file)
    except (TypeError, ValueError):  # a value JSON cannot hold: drawn here
        payload.unlink(missing_ok=True)
        return None
    package_root = str(Path(lrchain.__file__).resolve().parents[1])  # this lrchain, not another
    path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "lrchain.drawing", str(payload)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ | {"PYTHONPATH": path},
        )
    except OSError:
        payload.unlink(missing_ok=True)
        return None
    return _Helper(figure, process, payload)


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


def main(payload: str) -> None:
    """In the helper: draw the figure the file describes."""
    spec = json.loads(Path(payload).read_text())
    kwargs = spec["kwargs"] | {"path": Path(spec["kwargs"]["path"])}
    Figure(spec["function"], kwargs).draw()


if __name__ == "__main__":
    main(sys.argv[1])
