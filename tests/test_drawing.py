"""A comparison's figures drawn side by side by a helper process started early (lrchain.drawing)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from lrchain import drawing, plots
from lrchain.cores import usable_cores
from lrchain.drawing import Figure, draw_all

two_cores = pytest.mark.skipif(usable_cores() < 2, reason="one core: every figure is drawn here")

EPOCHS = [1, 2, 3, 4]
RUNS = {
    "step": {
        "train/loss": (EPOCHS, [2.0, 1.0, 0.5, 0.4]),
        "val/loss": (EPOCHS, [2.1, 1.2, 0.7, 0.6]),
    },
    "exp": {
        "train/loss": (EPOCHS, [2.0, 1.5, 0.9, 0.3]),
        "val/loss": (EPOCHS, [2.2, 1.4, 1.0, 0.5]),
    },
}


def losses(path: Path) -> Figure:
    arguments = {"keys": ["train/loss", "val/loss"], "title": "a sweep", "colours": None}
    return Figure("plot_run_metrics", {"runs": RUNS, "path": path} | arguments)


@pytest.fixture
def scratch(tmp_path, monkeypatch) -> Path:
    """A temporary folder of the test's own for the helper's instructions."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def recorded(monkeypatch) -> list[Path]:
    """The figures this process draws itself (plot_run_metrics, recorded)."""
    here: list[Path] = []
    draw = plots.plot_run_metrics
    monkeypatch.setattr(
        plots, "plot_run_metrics", lambda **kw: here.append(kw["path"]) or draw(**kw)
    )
    return here


@two_cores
def test_a_warm_helper_draws_every_figure_as_this_process_would(tmp_path, scratch, recorded):
    drawing.warm()
    helper = drawing._warm
    assert helper is not None and alive(helper.process.pid)
    paths = [tmp_path / f"{name}.png" for name in ("a", "b", "c")]
    draw_all([losses(path) for path in paths])
    assert recorded == []  # all drawn elsewhere
    plots.plot_run_metrics(
        runs=RUNS,
        keys=["train/loss", "val/loss"],
        path=tmp_path / "here.png",
        title="a sweep",
        colours=None,
    )
    assert {path.read_bytes() for path in paths} == {(tmp_path / "here.png").read_bytes()}
    assert helper.process.returncode == 0  # told there is no more, it ended
    assert drawing._warm is None  # the next comparison starts its own
    assert list(scratch.iterdir()) == []  # its instructions removed


@two_cores
def test_a_figure_the_helper_cannot_draw_is_drawn_here_with_a_note(
    tmp_path, scratch, monkeypatch, recorded, capsys
):
    def only_here(path: Path) -> Path:  # the helper's lrchain.plots has no such function
        path.write_bytes(b"drawn here")
        return path

    monkeypatch.setattr(plots, "only_here", only_here, raising=False)
    draw_all([losses(tmp_path / "loss.png"), Figure("only_here", {"path": tmp_path / "x.png"})])
    assert (tmp_path / "x.png").read_bytes() == b"drawn here"
    note = capsys.readouterr().err
    assert "[lrchain] note: drawing x.png here (AttributeError: module 'lrchain.plots'" in note
    assert "loss.png" not in note and recorded == []  # the other one, by the helper
    assert (tmp_path / "loss.png").is_file()
    assert list(scratch.iterdir()) == []


@two_cores
def test_a_helper_that_died_leaves_every_figure_drawn_here_with_a_note(
    tmp_path, scratch, recorded, capsys
):
    drawing.warm()
    helper = drawing._warm
    os.kill(helper.process.pid, signal.SIGKILL)
    helper.process.wait()
    draw_all([losses(tmp_path / "a.png"), losses(tmp_path / "b.png")])
    assert recorded == [tmp_path / "a.png", tmp_path / "b.png"]
    note = capsys.readouterr().err
    assert "[lrchain] note: drawing a.png here (the helper ended with exit status -9)" in note
    assert list(scratch.iterdir()) == []


def test_a_warm_helper_ends_with_its_process_even_with_no_figure(tmp_path):
    started = subprocess.run(
        [
            sys.executable,
            "-c",
            "from lrchain import drawing; drawing.warm();"
            " print(drawing._warm.process.pid if drawing._warm else 0)",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    pid = int(started.stdout)
    if usable_cores() < 2:
        assert pid == 0  # one core: no helper
        return
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)
    assert started.stderr == ""


def test_one_figure_is_drawn_here(tmp_path, scratch, recorded):
    draw_all([losses(tmp_path / "loss.png")])
    assert recorded == [tmp_path / "loss.png"]  # no process started for it
    assert list(scratch.iterdir()) == []


def test_a_figure_that_fails_here_raises_and_leaves_no_helper(tmp_path, scratch, monkeypatch):
    def broken(**kwargs):
        raise ValueError("no such curve")

    drawing.warm()
    helper = drawing._warm
    monkeypatch.setattr(plots, "plot_run_lrs", broken)
    with pytest.raises(ValueError, match="no such curve"):
        draw_all(
            [Figure("plot_run_lrs", {"path": tmp_path / "lr.png"}), losses(tmp_path / "l.png")]
        )
    assert helper is None or helper.process.returncode is not None
    assert list(scratch.iterdir()) == []


def test_a_figure_json_cannot_hold_is_drawn_here(tmp_path, scratch, monkeypatch, recorded):
    odd = []
    monkeypatch.setattr(plots, "odd", lambda path, value: odd.append(value) or path, raising=False)
    draw_all([losses(tmp_path / "loss.png"), Figure("odd", {"path": tmp_path, "value": {1, 2}})])
    assert odd == [{1, 2}]  # a set: no helper could be told it
    assert recorded == [tmp_path / "loss.png"]  # and the figures sent with it, quietly
    assert list(scratch.iterdir()) == []


@two_cores
def test_a_helper_that_does_not_answer_in_time_is_ended_and_its_figures_drawn_here(
    tmp_path, scratch, monkeypatch, recorded, capsys
):
    drawing.warm()
    helper = drawing._warm
    monkeypatch.setattr(drawing, "HELPER_TIMEOUT", 0.01)  # it is still loading matplotlib
    draw_all([losses(tmp_path / "a.png"), losses(tmp_path / "b.png")])
    assert recorded == [tmp_path / "a.png", tmp_path / "b.png"]
    assert "[lrchain] note: drawing b.png here (not done in 0.01 s)" in capsys.readouterr().err
    assert helper.process.returncode == -signal.SIGKILL
    assert list(scratch.iterdir()) == []
