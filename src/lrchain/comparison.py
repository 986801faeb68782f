"""A comparison of logged runs: LR and loss figures and a summary table, read from the store."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrchain import group_tables, grouped, store
from lrchain.contract import CURVES, LR, LR_HEAD, TAG_PRUNED, TAG_SCHED, VAL_ACC, VAL_LOSS
from lrchain.drawing import Figure, draw_all
from lrchain.errors import ConfigError
from lrchain.groups import group_runs, resolve_keys
from lrchain.tables import markdown

COLUMNS = (
    "run_id",
    "run_name",
    "sched",
    "status",
    "epochs",
    "final_lr",
    "final_val_loss",
    "best_val_loss",
    "best_val_acc",
    "best_val_acc_epoch",
    "wall_seconds",
)
FILES = ("lr.png", "loss.png", "summary.csv", "summary.md")
FORMATS = {"final_lr": ".4g", "wall_seconds": ".1f", "epochs": "d", "best_val_acc_epoch": "d"}


def labels(runs: Sequence) -> dict[str, str]:
    """run id -> its name, with a short id added where names repeat (runs of several sweeps)."""
    names = [r.info.run_name or r.info.run_id[:8] for r in runs]
    return {
        r.info.run_id: name if names.count(name) == 1 else f"{name} ({r.info.run_id[:6]})"
        for r, name in zip(runs, names, strict=True)
    }


def summarize(runs: Sequence, found: Mapping[str, Mapping[str, store.History]]) -> list[dict]:
    """One row per run (COLUMNS), sorted by best val/loss; runs without one come last."""
    rows = []
    for run in runs:
        h = found.get(run.info.run_id, {})
        lr, val_loss = h.get(LR, []), h.get(VAL_LOSS, [])
        losses = [v for _, v in val_loss if math.isfinite(v)]
        accs = [(v, step) for step, v in h.get(VAL_ACC, []) if math.isfinite(v)]
        best_acc = max(accs, key=lambda a: (a[0], -a[1])) if accs else (None, None)
        end = run.info.end_time
        rows.append(
            {
                "run_id": run.info.run_id,
                "run_name": run.info.run_name,
                "sched": run.data.tags.get(TAG_SCHED, ""),
                "status": "PRUNED" if run.data.tags.get(TAG_PRUNED) == "true" else run.info.status,
                "epochs": len(val_loss),
                "final_lr": lr[-1][1] if lr else None,
                "final_val_loss": val_loss[-1][1] if val_loss else None,
                "best_val_loss": min(losses) if losses else None,
                "best_val_acc": best_acc[0],
                "best_val_acc_epoch": None if best_acc[1] is None else best_acc[1] + 1,
                "wall_seconds": (end - run.info.start_time) / 1000 if end else None,
            }
        )
    return sorted(rows, key=lambda r: (r["best_val_loss"] is None, r["best_val_loss"] or 0.0))


def to_csv(rows: Sequence[Mapping]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if row[k] is None else row[k] for k in COLUMNS} for row in rows)
    return out.getvalue()


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) or key in FORMATS:
        return format(value, FORMATS.get(key, ".4f"))
    return str(value).replace("|", "\\|")


def to_markdown(rows: Sequence[Mapping]) -> str:
    """The summary as a Markdown table with aligned columns."""
    return markdown(COLUMNS, [[_cell(k, row[k]) for k in COLUMNS] for row in rows])


# The console's run table, under 100 columns: short ids and names, the columns a glance needs
# (summary.md and summary.csv keep every column and whole ids and names).
CONSOLE = {
    "run_id": "run id",
    "run_name": "run",
    "status": "status",
    "epochs": "epochs",
    "best_val_loss": "best val/loss",
    "best_val_acc": "best val/acc",
    "wall_seconds": "wall s",
}
NAME_WIDTH = 20
CONSOLE_WIDTH = 100  # characters of a line of the tables printed to the terminal


def to_console(rows: Sequence[Mapping]) -> str:
    """The summary for a terminal: ids cut to 8 characters (as README shows them), names to 20."""
    return markdown(list(CONSOLE.values()), [[_short(k, row[k]) for k in CONSOLE] for row in rows])


def _short(key: str, value: Any) -> str:
    text = _cell(key, value)
    if key == "run_id":
        return text[:8]
    if key == "run_name" and len(text) > NAME_WIDTH:
        return text[: NAME_WIDTH - 1] + "…"
    return text


def _xy(history: store.History) -> tuple[list[int], list[float]]:
    """Epochs from 1 (MLflow's step is epoch - 1) and values."""
    return [step + 1 for step, _ in history], [value for _, value in history]


@dataclass
class Comparison:
    """What a comparison wrote: a row per run, and the groups (None for `--group-by none`)."""

    rows: list[dict]
    groups: grouped.Grouped | None = None

    def files(self) -> tuple[str, ...]:
        return FILES + (grouped.FILES if self.groups else ())

    def report(self) -> str:
        """For the console: the groups and verdicts where seeds repeat, else the run table."""
        if self.groups is not None and self.groups.replicated:
            return group_tables.report(self.groups, CONSOLE_WIDTH)
        return to_console(self.rows)


def write_comparison(
    client: Any,
    runs: Sequence,
    out: Path,
    title: str,
    group_by: str | None = None,
    metric: str = grouped.DEFAULT_METRIC,
) -> Comparison:
    """Per run: lr.png, loss.png, summary.csv, summary.md; per group (runs differing only in seed,
    unless `group_by` names the keys; "none": no groups) groups.png, groups.csv, groups.md."""
    if not runs:
        raise ConfigError("no runs to compare")
    grouped.check_metric(metric)
    keys = resolve_keys(group_by, [r.data.params for r in runs])
    found = store.histories(client, [r.info.run_id for r in runs], (*CURVES, LR_HEAD))
    rows = summarize(runs, found)
    result = None
    if keys is not None:
        groups = group_runs([r.info.run_id for r in runs], [r.data.params for r in runs], keys)
        result = grouped.build(grouped.records(runs, found), groups, metric)
    names = labels(runs)
    order = [row["run_id"] for row in rows]  # legend from best to worst
    series = {names[run_id]: {key: _xy(found[run_id][key]) for key in CURVES} for run_id in order}
    colours = {names[run_id]: colour for run_id, colour in run_colours(rows, result).items()}
    out.mkdir(parents=True, exist_ok=True)
    heads = {names[r]: _xy(found[r][LR_HEAD]) for r in order if found[r][LR_HEAD]}
    lrs = {name: s[LR] for name, s in series.items()}
    common = {"title": title, "colours": colours}
    figures = [
        Figure("plot_run_lrs", {"curves": lrs, "path": out / "lr.png", "heads": heads} | common),
        Figure(
            "plot_run_metrics",
            {"runs": series, "keys": CURVES[1:], "path": out / "loss.png"} | common,
        ),
    ]
    (out / "summary.csv").write_text(to_csv(rows))
    (out / "summary.md").write_text(f"# {title}\n\n" + to_markdown(rows))
    if result is not None:
        figures.append(grouped.write(result, found, out, title))
    draw_all(figures)  # side by side where there are two cores: lrchain.drawing
    return Comparison(rows, result)


def run_colours(rows: Sequence[Mapping], groups: grouped.Grouped | None) -> dict[str, str]:
    """run id -> colour: its group's (seeds share one), else its schedule's, else its own."""
    from lrchain.colours import colours_for

    if groups is not None and groups.replicated:
        by_label = grouped.group_colours(groups)
        return {r: by_label[g.group.label] for g in groups.groups for r in g.group.run_ids}
    scheds = [row["sched"] for row in rows]
    names = (
        scheds if all(scheds) and len(set(scheds)) == len(scheds) else [r["run_id"] for r in rows]
    )
    found = colours_for(names)
    return {row["run_id"]: found[name] for row, name in zip(rows, names, strict=True)}
