"""The figure of `lrchain preview`: learning-rate curves, one colour per schedule name."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

Curve = tuple[Sequence[float], Sequence[float]]  # x in epochs (from 1), lr
TOGETHER = 4  # up to this many schedules share one pair of axes; more get a panel each
COLUMNS = 4  # panels per row in the grid


def plot_lr_curves(
    curves: Mapping[str, Curve], path: Path, title: str, heads: Mapping[str, Curve] | None = None
) -> Path:
    """A few curves together (linear and log axes), or a grid with a small panel per curve.

    `heads`: per schedule name, the head's own curve (optim.head_lr), dashed in its colour.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from lrchain.colours import colours_for

    colours = colours_for(list(curves))
    if len(curves) <= TOGETHER:
        fig = _together(plt, curves, colours, heads or {})
    else:
        fig = _grid(plt, curves, colours, heads or {})
    for ax in fig.axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title, fontsize="medium", wrap=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _together(plt, curves: Mapping[str, Curve], colours: Mapping[str, str], heads: Mapping):
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
    for name, (x, y) in curves.items():
        for ax in axes:
            ax.plot(x, y, label=name, color=colours[name], linewidth=1.6, drawstyle="steps-post")
            if name in heads:
                ax.plot(*heads[name], label=f"{name} head", **_head_style(colours[name]))
    axes[0].set_title("learning rate", fontsize="medium")
    axes[1].set_title("learning rate, log scale", fontsize="medium")
    axes[1].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels))
    return fig


def _grid(plt, curves: Mapping[str, Curve], colours: Mapping[str, str], heads: Mapping):
    rows = math.ceil(len(curves) / COLUMNS)
    fig, axes = plt.subplots(
        rows, COLUMNS, figsize=(3.2 * COLUMNS, 2.3 * rows + 0.6), layout="constrained", sharex=True
    )
    flat = list(axes.flat)
    for ax, (name, (x, y)) in zip(flat, curves.items(), strict=False):
        ax.plot(x, y, color=colours[name], linewidth=1.6, drawstyle="steps-post")
        if name in heads:
            ax.plot(*heads[name], **_head_style(colours[name]))
        ax.set_title(f"{name} (dashed: head)" if name in heads else name, fontsize="medium")
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


def _head_style(colour: str) -> dict:
    """The head's curve: the body's colour, dashed."""
    return {"color": colour, "linewidth": 1.4, "linestyle": "--", "drawstyle": "steps-post"}
