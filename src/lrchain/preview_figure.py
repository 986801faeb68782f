"""The figure of `lrchain preview`: learning-rate curves, one colour per schedule name."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

Curve = tuple[Sequence[float], Sequence[float]]  # x in epochs (from 1), lr
TOGETHER = 4  # up to this many schedules share one pair of axes; more get a panel each
COLUMNS = 4  # panels per row in the grid


def plot_lr_curves(curves: Mapping[str, Curve], path: Path, title: str) -> Path:
    """A few curves together (linear and log axes), or a grid with a small panel per curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from lrchain.colours import colours_for

    colours = colours_for(list(curves))
    if len(curves) <= TOGETHER:
        fig = _together(plt, curves, colours)
    else:
        fig = _grid(plt, curves, colours)
    for ax in fig.axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title, fontsize="medium", wrap=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _together(plt, curves: Mapping[str, Curve], colours: Mapping[str, str]):
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
    for name, (x, y) in curves.items():
        for ax in axes:
            ax.plot(x, y, label=name, color=colours[name], linewidth=1.6, drawstyle="steps-post")
    axes[0].set_title("learning rate", fontsize="medium")
    axes[1].set_title("learning rate, log scale", fontsize="medium")
    axes[1].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=len(curves))
    return fig


def _grid(plt, curves: Mapping[str, Curve], colours: Mapping[str, str]):
    rows = math.ceil(len(curves) / COLUMNS)
    fig, axes = plt.subplots(
        rows, COLUMNS, figsize=(3.2 * COLUMNS, 2.3 * rows + 0.6), layout="constrained", sharex=True
    )
    flat = list(axes.flat)
    for ax, (name, (x, y)) in zip(flat, curves.items(), strict=False):
        ax.plot(x, y, color=colours[name], linewidth=1.6, drawstyle="steps-post")
        ax.set_title(name, fontsize="medium")
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
        ax.tick_params(labelsize="small")
    for ax in flat[len(curves) :]:
        ax.axis("off")
    for ax in flat[len(curves) - COLUMNS : len(curves)]:  # the lowest panel of each column
        ax.set_xlabel("epoch")
        ax.tick_params(labelbottom=True)
    fig.supylabel("learning rate (log scale)", fontsize="medium")
    return fig
