"""The grouped comparison for people and scripts: a Markdown table with verdicts, and a CSV."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

from lrchain import statistics as st
from lrchain.grouped import STATS, Grouped
from lrchain.tables import markdown, short

HEADERS = {
    "best_val_loss": "best val/loss",
    "final_val_loss": "final val/loss",
    "best_val_acc": "best val/acc",
    "epochs_to_99pct": "ep. 99%",
    "wall_seconds": "wall s",
}
DROPPABLE = ("final val/loss", "wall s", "ep. 99%")  # left out first where a terminal is narrow
LABEL_WIDTH = 32  # characters of a group's label in a terminal


def cell(summary: st.Summary) -> str:
    """`0.058 ± 0.004`: the mean to the precision its standard deviation allows."""
    if summary.mean is None:
        return "-"
    if summary.std is None or summary.std == 0:
        return f"{summary.mean:.4g}" + (" ± 0" if summary.std == 0 else "")
    places = precision(summary.std, summary.mean)
    return f"{summary.mean:.{places}f} ± {summary.std:.{places}f}"


def precision(std: float, mean: float) -> int:
    """Decimals that show one significant digit of `std` (two where it starts with 1 or 2), and
    at most four of `mean`."""
    if std <= 0 or not math.isfinite(std):
        return 4
    exponent = math.floor(math.log10(std))
    leading = int(std / 10**exponent)
    places = -exponent + (1 if leading < 3 else 0)
    if mean:
        places = min(places, 3 - math.floor(math.log10(abs(mean))))
    return min(8, max(0, places))


def to_markdown(grouped: Grouped, width: int | None = None) -> str:
    """The groups as a Markdown table, the best first; min-max of the metric they are ranked by.

    `width` (a terminal's): labels are cut, and the columns of DROPPABLE left out, in that order,
    until every line fits; a note names what was left out.
    """
    bare = all(g.group.values and g.group.label == g.group.values[0] for g in grouped.groups)
    header = [grouped.keys[0] if len(grouped.keys) == 1 and bare else "group", "n"]
    for figure in st.FIGURES:
        header.append(HEADERS[figure])
        if figure == grouped.metric:
            header.append("min–max")
    rows = []
    for g in grouped.groups:
        label = g.group.label if width is None else short(g.group.label, LABEL_WIDTH)
        row = [label.replace("|", "\\|"), str(g.n)]
        for figure, summary in g.summaries.items():
            row.append(cell(summary))
            if figure == grouped.metric:
                row.append(_range(summary))
        rows.append(row)
    table, dropped = markdown(header, rows), []
    for name in DROPPABLE:
        if width is None or max(len(line) for line in table.splitlines()) <= width:
            break
        if name in header and header.index(name) > 3:  # never the metric ranked by, its range
            at = header.index(name)
            header, rows = header[:at] + header[at + 1 :], [r[:at] + r[at + 1 :] for r in rows]
            table, dropped = markdown(header, rows), [*dropped, name]
    note = f"(left out here to fit: {', '.join(dropped)}; all in groups.md)\n" if dropped else ""
    return table + note


def _range(summary: st.Summary) -> str:
    if summary.n < 2 or summary.std is None:
        return "-"
    if summary.std == 0:
        return f"{summary.min:.4g}–{summary.max:.4g}"
    places = precision(summary.std, summary.mean or 0.0)
    return f"{summary.min:.{places}f}–{summary.max:.{places}f}"


def report(grouped: Grouped, width: int | None = None) -> str:
    """The table, what its columns mean, the verdicts and the runs left out, for people.

    `width`: a terminal's, which the table keeps within (see to_markdown).
    """
    words = st.FIGURES[grouped.metric][0]
    lines = [
        to_markdown(grouped, width),
        "n: finished runs (seeds); mean ± std over them; ep. 99%: the first epoch whose val/acc is",
        "within 99% of the run's best (epochs count from 1); wall s: seconds from start to end.",
    ]
    verdicts = grouped.verdicts()
    if verdicts:
        lines += [
            "",
            f"Against {grouped.groups[0].group.label}, the best on {words}: the difference best -"
            " other with its 95% CI,",
            "by a paired t-test over seeds where both groups ran the same seeds, else Welch's:",
            *[f"- {v}" for v in verdicts],
        ]
    left = [(g.group.label, r) for g in grouped.groups for r in g.left_out]
    if left:
        lines += ["", f"Left out of the statistics, not FINISHED ({len(left)}):"]
        lines += [f"- {label}, seed {r.seed}: run {r.run_id[:8]} {r.status}" for label, r in left]
    return "\n".join(lines) + "\n"


def to_csv(grouped: Grouped) -> str:
    """Every number of every group, one row each: summaries, then the comparison with the best."""
    columns = ["group", "label", "n", "left_out"]
    columns += [f"{f}_{s}" for f in st.FIGURES for s in STATS]
    columns += ["metric", "diff", "ci_low", "ci_high", "p_value", "test", "wins", "verdict"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    best = grouped.groups[0].group.label if grouped.groups else ""
    for g in grouped.groups:
        row: list[Any] = [g.group.name, g.group.label, g.n, len(g.left_out)]
        row += [getattr(g.summaries[f], s) for f in st.FIGURES for s in STATS]
        d = g.difference
        row += [grouped.metric]
        if d is None:
            row += [None] * 7
        else:
            row += [d.mean, d.low, d.high, d.p, d.test, d.wins, st.verdict(d, best, g.group.label)]
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()
