"""The grouped comparison: seeds as replicates; per group a band, a summary row and a verdict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lrchain import statistics as st
from lrchain.contract import CURVES, LR_HEAD, TAG_GROUP, TAG_SCHED, VAL_ACC, VAL_LOSS
from lrchain.drawing import Figure
from lrchain.errors import ConfigError
from lrchain.groups import SEED, Group, metric_prefixes

FILES = ("groups.png", "groups.csv", "groups.md")
DEFAULT_METRIC = "best_val_loss"
FINISHED = "FINISHED"
STATS = ("mean", "std", "min", "max")
BAND = "line: mean over seeds; band: min to max"


@dataclass(frozen=True)
class RunRecord:
    """What the statistics need of one run, as plain values."""

    run_id: str
    status: str
    seed: str | None
    sched: str
    figures: dict[str, float | None]  # statistics.FIGURES of the run


@dataclass
class GroupStats:
    """One group: its finished runs' figures by seed, their summaries, the runs left out."""

    group: Group
    sched: str  # the schedule of every run in it, else ""
    samples: dict[str, list[tuple[str | None, float | None]]]  # figure -> (seed, value)
    summaries: dict[str, st.Summary]
    left_out: list[RunRecord] = field(default_factory=list)  # not FINISHED
    difference: st.Difference | None = None  # the best group - this one, on the metric

    @property
    def n(self) -> int:
        """Its FINISHED runs."""
        return len(self.samples[DEFAULT_METRIC])


@dataclass
class Grouped:
    """Every group of a comparison, the best first by `metric`."""

    keys: list[str]
    metric: str
    groups: list[GroupStats]

    @property
    def replicated(self) -> bool:
        """Whether any group has more than one finished run: only then are there intervals."""
        return any(g.n > 1 for g in self.groups)

    def verdicts(self) -> list[str]:
        best = self.groups[0].group.label
        return [
            st.verdict(g.difference, best, g.group.label)
            for g in self.groups[1:]
            if g.difference is not None
        ]


def check_metric(metric: str) -> str:
    if metric not in st.FIGURES:
        raise ConfigError(f"--metric: unknown figure {metric!r}; allowed: {', '.join(st.FIGURES)}")
    return metric


def records(runs: Sequence, found: Mapping[str, Mapping[str, st.History]]) -> dict[str, RunRecord]:
    """run id -> its RunRecord, from MLflow runs and their metric histories."""
    result = {}
    for run in runs:
        info, histories = run.info, found.get(run.info.run_id, {})
        wall = (info.end_time - info.start_time) / 1000 if info.end_time else None
        figures = st.run_figures(histories.get(VAL_LOSS, []), histories.get(VAL_ACC, []), wall)
        sched = run.data.tags.get(TAG_SCHED, "")
        seed = run.data.params.get(SEED)
        result[info.run_id] = RunRecord(info.run_id, info.status, seed, sched, figures)
    return result


def build(runs: Mapping[str, RunRecord], groups: Sequence[Group], metric: str) -> Grouped:
    """Summaries of each group's FINISHED runs, ranked by `metric`, each against the best."""
    lower = st.FIGURES[check_metric(metric)][1]
    stats = [_group_stats(g, [runs[i] for i in g.run_ids]) for g in groups]

    def rank(g: GroupStats) -> tuple:
        mean = g.summaries[metric].mean
        return (mean is None, 0.0 if mean is None else (mean if lower else -mean))

    stats.sort(key=rank)
    for g in stats[1:]:
        g.difference = st.compare(metric, stats[0].samples[metric], g.samples[metric])
    return Grouped(list(groups[0].keys) if groups else [], metric, stats)


def _group_stats(group: Group, runs: Sequence[RunRecord]) -> GroupStats:
    done = [r for r in runs if r.status == FINISHED]
    samples = {f: [(r.seed, r.figures[f]) for r in done] for f in st.FIGURES}
    scheds = {r.sched for r in runs}
    return GroupStats(
        group,
        scheds.pop() if len(scheds) == 1 else "",
        samples,
        {f: st.summarize([v for _, v in sample]) for f, sample in samples.items()},
        [r for r in runs if r.status != FINISHED],
    )


def group_colours(grouped: Grouped) -> dict[str, str]:
    """label -> colour: its schedule's where each group is one schedule, else the label's own."""
    from lrchain.colours import colours_for

    scheds = [g.sched for g in grouped.groups]
    one_each = all(scheds) and len(set(scheds)) == len(scheds)
    names = {g.group.label: g.sched if one_each else g.group.label for g in grouped.groups}
    colours = colours_for(list(names.values()))
    return {label: colours[name] for label, name in names.items()}


def legend_name(g: GroupStats) -> str:
    left = f", {len(g.left_out)} left out" if g.left_out else ""
    return f"{g.group.label} (n={g.n}{left})"


def write(grouped: Grouped, found: Mapping, out: Path, title: str) -> Figure:
    """groups.csv and groups.md of `grouped` into `out`; groups.png, to draw (lrchain.drawing)."""
    from lrchain import group_tables

    (out / FILES[1]).write_text(group_tables.to_csv(grouped))
    (out / FILES[2]).write_text(f"# {title}\n\n{group_tables.report(grouped)}")
    return figure(grouped, found, out / FILES[0], title)


def figure(grouped: Grouped, found: Mapping, path: Path, title: str) -> Figure:
    """groups.png: per group its mean curves over a min-max band, as lrchain.plots draws them."""
    colours = group_colours(grouped)
    curves, line_colours = {}, {}
    for g in grouped.groups:
        left = {r.run_id for r in g.left_out}
        runs = [found[run_id] for run_id in g.group.run_ids if run_id not in left]
        bands = {key: st.band([h.get(key, []) for h in runs]) for key in CURVES}
        if any(h.get(LR_HEAD) for h in runs):  # the head's own group (optim.head_lr)
            bands[LR_HEAD] = st.band([h.get(LR_HEAD, []) for h in runs])
        shown = legend_name(g)
        curves[shown] = {
            k: ([s + 1 for s in b.steps], b.mean, b.low, b.high) for k, b in bands.items()
        }
        line_colours[shown] = colours[g.group.label]
    arguments = {"keys": CURVES, "colours": line_colours, "path": path, "note": BAND}
    return Figure("plot_group_bands", {"groups": curves, "title": title} | arguments)


def parent_metrics(grouped: Grouped) -> dict[str, float]:
    """`chain/best_val_loss_mean` ... and `chain/n` of every group: the parent run's metrics."""
    prefixes = metric_prefixes([g.group for g in grouped.groups])
    metrics: dict[str, float] = {}
    for g in grouped.groups:
        prefix = prefixes[g.group.name]
        metrics[f"{prefix}/n"] = float(g.n)
        for figure, summary in g.summaries.items():
            for stat in STATS:
                value = getattr(summary, stat)
                if value is not None:
                    metrics[f"{prefix}/{figure}_{stat}"] = float(value)
        d = g.difference or st.Difference(grouped.metric, 0, 0, st.NO_TEST)
        for name, value in (("diff", d.mean), ("ci_low", d.low), ("ci_high", d.high)):
            if value is not None:
                metrics[f"{prefix}/{grouped.metric}_{name}"] = float(value)
    return metrics


def record(client: Any, parent_id: str, grouped: Grouped) -> None:
    """The groups' summaries as the parent run's metrics; each child tagged with its group."""
    import time

    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = [Metric(k, v, now, 0) for k, v in parent_metrics(grouped).items()]
    for i in range(0, len(metrics), 1000):  # MLflow takes at most 1000 metrics a call
        client.log_batch(parent_id, metrics=metrics[i : i + 1000])
    for g in grouped.groups:
        for run_id in g.group.run_ids:
            client.set_tag(run_id, TAG_GROUP, g.group.name)
