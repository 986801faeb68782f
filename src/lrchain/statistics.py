"""Statistics of replicated runs, on plain values: per-run figures, summaries, intervals, verdicts.

A group's runs differ only in their seed. Two groups are compared by a t-test: paired by seed when
both ran the same seeds (same seed: same split, same initial weights, same batch order), else
Welch's unpaired test. scipy is imported only when an interval is computed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

CONFIDENCE = 0.95
ACC_SHARE = 0.99  # epochs_to_99pct: the first epoch whose val/acc is within 99% of the run's best
# Per-run figure -> (words for people, whether lower is better).
FIGURES = {
    "best_val_loss": ("best val/loss", True),
    "final_val_loss": ("final val/loss", True),
    "best_val_acc": ("best val/acc", False),
    "epochs_to_99pct": ("epochs to 99% of best val/acc", True),
    "wall_seconds": ("wall seconds", True),
}
PAIRED, WELCH, NO_TEST = "paired t", "Welch t", "none"

History = Sequence[tuple[int, float]]  # (step, value), step = epoch - 1
Sample = Sequence[tuple[Hashable, float]]  # (seed, value) of each run of a group


def run_figures(
    val_loss: History, val_acc: History, wall_seconds: float | None
) -> dict[str, float | None]:
    """The FIGURES of one run from its histories; epochs counted from 1."""
    losses = [v for _, v in val_loss if math.isfinite(v)]
    accs = [(step, v) for step, v in val_acc if math.isfinite(v)]
    best_acc = max((v for _, v in accs), default=None)
    reached = None
    if best_acc is not None:
        reached = next(step + 1 for step, v in accs if v >= ACC_SHARE * best_acc)
    return {
        "best_val_loss": min(losses, default=None),
        "final_val_loss": val_loss[-1][1] if val_loss else None,
        "best_val_acc": best_acc,
        "epochs_to_99pct": reached,
        "wall_seconds": wall_seconds,
    }


@dataclass(frozen=True)
class Summary:
    """Count, mean, sample standard deviation (None below 2 values), min and max."""

    n: int
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None


def summarize(values: Sequence[float | None]) -> Summary:
    """The Summary of the finite values; None and NaN are left out."""
    xs = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not xs:
        return Summary(0)
    if len(xs) == 1 or _same(xs):
        return Summary(len(xs), xs[0], None if len(xs) == 1 else 0.0, min(xs), max(xs))
    mean = math.fsum(xs) / len(xs)
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (len(xs) - 1))
    return Summary(len(xs), mean, std, min(xs), max(xs))


def _same(xs: Sequence[float]) -> bool:
    """Equal but for float rounding (0.1 - 0.3 and 0.2 - 0.4): no spread to test."""
    return max(xs) - min(xs) <= 1e-12 * max(1.0, *(abs(x) for x in xs))


@dataclass(frozen=True)
class Band:
    """A group's curve: per step, the mean over its runs, their min and max, and how many."""

    steps: list[int]
    mean: list[float]
    low: list[float]
    high: list[float]
    count: list[int]


def band(histories: Sequence[History]) -> Band:
    """Mean and min-max per step over the runs that logged it (finite values only)."""
    by_step: dict[int, list[float]] = {}
    for history in histories:
        for step, value in history:
            if math.isfinite(value):
                by_step.setdefault(step, []).append(value)
    steps = sorted(by_step)
    values = [by_step[s] for s in steps]
    return Band(
        steps,
        [math.fsum(v) / len(v) for v in values],
        [min(v) for v in values],
        [max(v) for v in values],
        [len(v) for v in values],
    )


@dataclass(frozen=True)
class Difference:
    """best - other on one figure: the mean difference and its 95% interval, where there is one."""

    figure: str
    n_best: int
    n_other: int
    test: str  # PAIRED, WELCH or NO_TEST (a group of one run, or none)
    mean: float | None = None  # paired: mean of per-seed differences; else difference of means
    low: float | None = None
    high: float | None = None
    p: float | None = None
    wins: int | None = None  # paired: the seeds where best did better

    @property
    def shown(self) -> bool:
        """Whether the interval leaves out zero: a difference the data support."""
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


def compare(figure: str, best: Sample, other: Sample) -> Difference:
    """best - other on `figure`: paired by seed when both ran the same seeds, else Welch."""
    a = [(s, v) for s, v in best if v is not None and math.isfinite(v)]
    b = [(s, v) for s, v in other if v is not None and math.isfinite(v)]
    if not a or not b:
        return Difference(figure, len(a), len(b), NO_TEST)
    if _same_seeds(a, b):
        return _paired(figure, a, b)
    if len(a) > 1 and len(b) > 1:
        return _welch(figure, [v for _, v in a], [v for _, v in b])
    mean = summarize([v for _, v in a]).mean - summarize([v for _, v in b]).mean  # type: ignore[operator]
    return Difference(figure, len(a), len(b), NO_TEST, mean)


def _same_seeds(a: Sample, b: Sample) -> bool:
    seeds_a, seeds_b = [s for s, _ in a], [s for s, _ in b]
    unique = len(set(seeds_a)) == len(seeds_a) and len(set(seeds_b)) == len(seeds_b)
    return len(a) > 1 and None not in seeds_a and unique and set(seeds_a) == set(seeds_b)


def _paired(figure: str, a: Sample, b: Sample) -> Difference:
    other = dict(b)
    xs = [v for _, v in a]
    ys = [other[s] for s, _ in a]
    diffs = [x - y for x, y in zip(xs, ys, strict=True)]
    lower = FIGURES[figure][1]
    wins = sum(d < 0 if lower else d > 0 for d in diffs)
    if _same(diffs):  # no spread: the interval is the one value (scipy would warn)
        mean = 0.0 if _same([*diffs, 0.0]) else math.fsum(diffs) / len(diffs)
        return Difference(figure, len(a), len(b), PAIRED, mean, mean, mean, None, wins)
    from scipy import stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_rel(xs, ys)
        ci = result.confidence_interval(CONFIDENCE)
    mean, p = math.fsum(diffs) / len(diffs), float(result.pvalue)
    return Difference(figure, len(a), len(b), PAIRED, mean, float(ci.low), float(ci.high), p, wins)


def _welch(figure: str, xs: list[float], ys: list[float]) -> Difference:
    from scipy import stats

    mean = summarize(xs).mean - summarize(ys).mean  # type: ignore[operator]
    if _same(xs) and _same(ys):  # no spread in either group
        return Difference(figure, len(xs), len(ys), WELCH, mean, mean, mean)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind(xs, ys, equal_var=False)
        ci = result.confidence_interval(CONFIDENCE)
    return Difference(
        figure, len(xs), len(ys), WELCH, mean, float(ci.low), float(ci.high), float(result.pvalue)
    )


def verdict(d: Difference, best: str, other: str) -> str:
    """One line in plain words: does `best` beat `other` on d.figure, and by how much."""
    words = FIGURES[d.figure][0]
    if d.mean is None:
        return f"{other}: no finished run with a {words}, nothing to compare with {best}"
    if d.test == NO_TEST:
        return (
            f"{best} vs {other} on {words}: {number(d.mean, d.mean)} from n={d.n_best} vs"
            f" n={d.n_other}; no interval: a group of one run cannot tell the schedule"
            " from its seed"
        )
    interval = interval_text(d)
    same = " (the same in every seed)" if d.low == d.high and d.test == PAIRED else ""
    if d.test == PAIRED and d.low == d.high == 0:
        return f"{best} and {other} tie on {words} in every one of {d.n_best} seeds"
    if d.test == PAIRED:
        seeds = f"in {d.wins} of {d.n_best} seeds"
        if d.shown:
            return f"{best} beats {other} on {words} {seeds}: {interval}{same}"
        return (
            f"{best} vs {other} on {words}: no difference shown at n={d.n_best}"
            f" ({best} better {seeds}: {interval})"
        )
    sizes = f"n={d.n_best} vs {d.n_other}"
    if d.shown:
        return f"{best} beats {other} on {words}: {interval} (Welch, unpaired, {sizes})"
    return f"{best} vs {other} on {words}: no difference shown at {sizes} ({interval}, Welch)"


def interval_text(d: Difference) -> str:
    """`-0.0213, 95% CI [-0.0340, -0.0081]`: the three numbers with the same decimals."""
    scale = max(abs(d.mean or 0), abs(d.low or 0), abs(d.high or 0))
    level = round(CONFIDENCE * 100)
    return f"{number(d.mean, scale)}, {level}% CI [{number(d.low, scale)}, {number(d.high, scale)}]"


def number(value: float | None, scale: float | None) -> str:
    """`value` with three significant digits of `scale` (the largest number shown beside it)."""
    if value is None:
        return "-"
    magnitude = abs(scale or 0)
    decimals = 4 if magnitude == 0 else max(0, 2 - math.floor(math.log10(magnitude)))
    return f"{value:.{decimals}f}"
