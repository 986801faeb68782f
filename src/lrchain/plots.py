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
