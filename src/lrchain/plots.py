"""Figures of a comparison of runs; matplotlib is imported only when drawing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from lrchain.contract import LR, LR_HEAD
from lrchain.tables import short

Series = tuple[Sequence[float], Sequence[float]]  # x (epochs), y
LEGEND_MAX = 30  # more runs than this: no legend, the figure would be all legend
TITLE_WIDTH = 64  # characters of a figure's title; a sweep's long overrides are cut
HEAD_LINE = {"linestyle": "--", "label": "_nolegend_"}  # lr/head: its run's colour, dashed


def _colours(names: Sequence[str], given: Mapping[str, str] | None) -> list[str]:
    """The colour of each name: as given, else lrchain.colours' own for the name."""
    from lrchain.colours import colours_for

    given = given or {}
    found = colours_for([name for name in names if name not in given])
    return [given[name] if name in given else found[name] for name in names]


def _style(n_points: int, n_lines: int) -> dict:
    marker = "o" if n_points <= 30 and n_lines <= 20 else None
    return {"linewidth": 1.5 if n_lines <= 20 else 0.8, "marker": marker, "markersize": 3}


def _legend(ax, n: int) -> None:
    for line in ax.get_lines():
        line.set_label(short(line.get_label()))
    if 0 < n <= LEGEND_MAX:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def plot_run_lrs(
    curves: Mapping[str, Series],
    path: Path,
    title: str,
    colours: Mapping[str, str] | None = None,
    heads: Mapping[str, Series] | None = None,
) -> Path:
    """The logged lr of each run per epoch, one labelled line each, on a log axis; save a PNG.

    `heads`: per run with a head group of its own, its `lr/head`, dashed in the run's colour.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    for colour, (name, (x, y)) in zip(_colours(list(curves), colours), curves.items(), strict=True):
        style = _style(len(x), len(curves))  # a marker per epoch: the last epoch's lr shows too
        ax.plot(x, y, label=name, color=colour, drawstyle="steps-post", **style)
        if name in (heads or {}):
            ax.plot(*heads[name], color=colour, drawstyle="steps-post", **style, **HEAD_LINE)
    ax.set_yscale("log", nonpositive="mask")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("lr (dashed: lr/head)" if heads else "lr")
    ax.grid(alpha=0.3, which="both")
    _legend(ax, len(curves))
    title = short(title, TITLE_WIDTH)
    title = f"{title}  ({len(curves)} runs)" if len(curves) > LEGEND_MAX else title
    fig.suptitle(title, x=0.01, ha="left")  # over the legend too: a long title is not cut
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_run_metrics(
    runs: Mapping[str, Mapping[str, Series]],
    keys: Sequence[str],
    path: Path,
    title: str,
    colours: Mapping[str, str] | None = None,
) -> Path:
    """One panel per metric key (e.g. train/loss, val/loss, val/acc), one colour per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys) + 1.5, 3.8), layout="constrained")
    axes = list(axes) if len(keys) > 1 else [axes]
    for colour, (name, series) in zip(_colours(list(runs), colours), runs.items(), strict=True):
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
    title = short(title, TITLE_WIDTH)
    fig.suptitle(f"{title}  ({len(runs)} runs)" if len(runs) > LEGEND_MAX else title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


Banded = tuple[
    Sequence[float], Sequence[float], Sequence[float], Sequence[float]
]  # x, mean, min, max
BAND_ALPHA = 0.18  # light enough that eight overlapping bands stay readable


def plot_group_bands(
    groups: Mapping[str, Mapping[str, Banded]],
    keys: Sequence[str],
    colours: Mapping[str, str],
    path: Path,
    title: str,
    note: str,
) -> Path:
    """A panel per metric key; per group its mean line over a shaded band; one legend for all."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    rows = (len(keys) + 1) // 2
    fig, axes = plt.subplots(
        rows, 2, figsize=(11.5, 3.2 * rows + 0.7), layout="constrained", squeeze=False
    )
    for name, curves in groups.items():
        for ax, key in zip(axes.flat, keys, strict=False):
            x, mean, low, high = curves.get(key, ([], [], [], []))
            steps = {"step": "post"} if key == "lr" else {}
            draw = {"drawstyle": "steps-post"} if key == "lr" else {}
            colour = colours[name]
            ax.fill_between(x, low, high, color=colour, alpha=BAND_ALPHA, linewidth=0, **steps)
            ax.plot(x, mean, color=colour, linewidth=1.8, label=name, **draw)
            if key == LR and LR_HEAD in curves:  # the head's own group, dashed
                x, mean = curves[LR_HEAD][:2]
                ax.plot(x, mean, color=colour, linewidth=1.4, **draw, **HEAD_LINE)
    heads = any(LR_HEAD in curves for curves in groups.values())
    for ax, key in zip(axes.flat, keys, strict=False):
        ax.set_title(f"{key} (dashed: {LR_HEAD})" if key == LR and heads else key)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3, which="both")
        if key == "lr" or "loss" in key:
            ax.set_yscale("log", nonpositive="mask")
        elif _zoom_on_the_end(ax, [c[key] for c in groups.values() if key in c]):
            ax.set_title(f"{key} (y axis: the last three quarters)")
    for ax in list(axes.flat)[len(keys) :]:
        ax.set_visible(False)
    if 0 < len(groups) <= LEGEND_MAX:
        handles, labels = axes.flat[0].get_legend_handles_labels()
        labels = [short(label) for label in labels]
        fig.legend(handles, labels, loc="outside right upper", fontsize="small")
    count = f"  ({len(groups)} groups)" if len(groups) > LEGEND_MAX else ""
    fig.suptitle(
        f"{short(title, TITLE_WIDTH)}{count}\n{note}", fontsize="medium", x=0.01, ha="left"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _zoom_on_the_end(ax, curves: Sequence[Banded]) -> bool:
    """A rising metric (val/acc): the y axis from the lowest band after the first quarter."""
    tails = [lo[len(lo) // 4 :] for _, _, lo, _ in curves if len(lo) >= 4]
    highs = [v for _, _, _, hi in curves for v in hi]
    if not tails or not highs:
        return False
    bottom, top = min(min(t) for t in tails), max(highs)
    margin = 0.05 * (top - bottom) or 0.01
    ax.set_ylim(bottom - margin, top + margin)
    return True
