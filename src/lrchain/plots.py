"""Figures of learning-rate curves; matplotlib is imported only when drawing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path


def plot_lr_curves(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], path: Path, title: str
) -> Path:
    """Draw each curve (x in epochs, lr) on a linear and a log axis side by side; save a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    for name, (x, y) in curves.items():
        for ax in axes:
            ax.plot(x, y, label=name, linewidth=1.6, drawstyle="steps-post")
    axes[0].set_title("learning rate")
    axes[1].set_title("learning rate, log scale")
    axes[1].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


Series = tuple[Sequence[float], Sequence[float]]  # x (epochs), y
LEGEND_MAX = 30  # more runs than this: no legend, the figure would be all legend


def _colours(n: int) -> list:
    """Distinct colours for up to 20 lines, then a continuous map."""
    import matplotlib

    if n <= 10:
        return [matplotlib.colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [matplotlib.colormaps["tab20"](i) for i in range(n)]
    cmap = matplotlib.colormaps["viridis"]
    return [cmap(i / (n - 1)) for i in range(n)]


def _style(n_points: int, n_lines: int) -> dict:
    marker = "o" if n_points <= 30 and n_lines <= 20 else None
    return {"linewidth": 1.5 if n_lines <= 20 else 0.8, "marker": marker, "markersize": 3}


def _legend(ax, n: int) -> None:
    if 0 < n <= LEGEND_MAX:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def plot_run_lrs(curves: Mapping[str, Series], path: Path, title: str) -> Path:
    """The logged lr of each run per epoch, one labelled line each, on a log axis; save a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    for colour, (name, (x, y)) in zip(_colours(len(curves)), curves.items(), strict=True):
        style = _style(len(x), len(curves))
        ax.plot(x, y, label=name, color=colour, drawstyle="steps-post", **style)
        if len(x):  # epoch e trains at lr[e] until e + 1
            ax.plot([x[-1], x[-1] + 1], [y[-1], y[-1]], color=colour, linewidth=style["linewidth"])
    ax.set_yscale("log", nonpositive="mask")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("lr")
    ax.grid(alpha=0.3, which="both")
    _legend(ax, len(curves))
    ax.set_title(f"{title}  ({len(curves)} runs)" if len(curves) > LEGEND_MAX else title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_run_metrics(
    runs: Mapping[str, Mapping[str, Series]], keys: Sequence[str], path: Path, title: str
) -> Path:
    """One panel per metric key (e.g. train/loss, val/loss, val/acc), one colour per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys) + 1.5, 3.8), layout="constrained")
    axes = list(axes) if len(keys) > 1 else [axes]
    for colour, (name, series) in zip(_colours(len(runs)), runs.items(), strict=True):
        for ax, key in zip(axes, keys, strict=True):
            x, y = series.get(key, ([], []))
            ax.plot(x, y, label=name, color=colour, **_style(len(x), len(runs)))
    for ax, key in zip(axes, keys, strict=True):
        ax.set_title(key)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3, which="both")
        if "loss" in key:
            ax.set_yscale("log", nonpositive="mask")
    _legend(axes[-1], len(runs))
    fig.suptitle(f"{title}  ({len(runs)} runs)" if len(runs) > LEGEND_MAX else title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
