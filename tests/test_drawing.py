"""A comparison's figures drawn side by side: the last by a helper process (lrchain.drawing)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from lrchain import plots
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


@two_cores
def test_the_helper_draws_the_last_figure_as_this_process_would(tmp_path, scratch, monkeypatch):
    here = []
    draw = plots.plot_run_metrics
    monkeypatch.setattr(
        plots, "plot_run_metrics", lambda **kw: here.append(kw["path"]) or draw(**kw)
    )
    draw_all([losses(tmp_path / "first.png"), losses(tmp_path / "last.png")])
    assert here == [tmp_path / "first.png"]  # the last one was drawn elsewhere
    assert (tmp_path / "last.png").read_bytes() == (tmp_path / "first.png").read_bytes()
    assert list(scratch.iterdir()) == []  # its instructions removed


@two_cores
def test_a_helper_that_fails_leaves_its_figure_drawn_here_with_a_note(
    tmp_path, scratch, monkeypatch, capsys
):
    def only_here(path: Path) -> Path:  # the helper's lrchain.plots has no such function
        path.write_bytes(b"drawn here")
        return path

    monkeypatch.setattr(plots, "only_here", only_here, raising=False)
    draw_all([losses(tmp_path / "loss.png"), Figure("only_here", {"path": tmp_path / "x.png"})])
    assert (tmp_path / "x.png").read_bytes() == b"drawn here"
    note = capsys.readouterr().err
    assert "[lrchain] note: drawing x.png here (exit status 1: AttributeError" in note
    assert (tmp_path / "loss.png").is_file()
    assert list(scratch.iterdir()) == []


def test_one_figure_is_drawn_here(tmp_path, scratch, monkeypatch):
    here = []
    draw = plots.plot_run_metrics
    monkeypatch.setattr(
        plots, "plot_run_metrics", lambda **kw: here.append(kw["path"]) or draw(**kw)
    )
    draw_all([losses(tmp_path / "loss.png")])
    assert here == [tmp_path / "loss.png"]  # no process started for it
    assert list(scratch.iterdir()) == []


def test_a_figure_that_fails_here_stops_the_helper_and_raises(tmp_path, scratch, monkeypatch):
    def broken(**kwargs):
        raise ValueError("no such curve")

    monkeypatch.setattr(plots, "plot_run_lrs", broken)
    with pytest.raises(ValueError, match="no such curve"):
        draw_all([Figure("plot_run_lrs", {}), losses(tmp_path / "loss.png")])
    assert list(scratch.iterdir()) == []  # the helper stopped, its instructions removed


def test_a_figure_json_cannot_hold_is_drawn_here(tmp_path, scratch, monkeypatch):
    here = []
    monkeypatch.setattr(plots, "odd", lambda path, value: here.append(value) or path, raising=False)
    draw_all([losses(tmp_path / "loss.png"), Figure("odd", {"path": tmp_path, "value": {1, 2}})])
    assert here == [{1, 2}]  # a set: no helper could be told it
    assert list(scratch.iterdir()) == []
