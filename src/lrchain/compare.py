"""`lrchain compare`: LR and loss figures and a summary table of logged runs, read from MLflow."""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lrchain.errors import ConfigError, TrackingError

METRICS = ("lr", "train/loss", "val/loss", "val/acc")
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
PAGE = 1000  # runs per search_runs call
BULK_RUNS = 200  # run ids per bulk metric query (SQL parameter limits)

History = list[tuple[int, float]]  # (step, value) by step


def _search(client: Any, experiment_ids: list[str], filter_string: str = "") -> list:
    """Every active run matching `filter_string`, page by page, oldest first."""
    runs, token = [], None
    while True:
        page = client.search_runs(experiment_ids, filter_string, max_results=PAGE, page_token=token)
        runs += list(page)
        token = page.token
        if not token:
            return sorted(runs, key=lambda r: r.info.start_time)


def children_of(client: Any, parent_id: str) -> list:
    """The child runs of a sweep's parent run (none when every job failed before logging)."""
    parent = get_run(client, parent_id)
    filter_string = f"tags.mlflow.parentRunId = '{parent_id}'"
    return _search(client, [parent.info.experiment_id], filter_string)


def runs_of_experiment(client: Any, name: str) -> list:
    """Every run of experiment `name`, less the sweeps' parent runs (they log no metrics)."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        known = sorted(e.name for e in client.search_experiments())
        raise ConfigError(
            f"--experiment: no experiment {name!r} in this store; it has: {', '.join(known)}"
        )
    runs = _search(client, [experiment.experiment_id])
    runs = [r for r in runs if r.data.tags.get("lrchain.sweep") != "true"]
    if not runs:
        raise ConfigError(f"--experiment: experiment {name!r} has no runs to compare")
    return runs


def get_run(client: Any, run_id: str) -> Any:
    """The run `run_id`, or a ConfigError naming it."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException as err:
        if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise ConfigError(f"no run with id {run_id!r} in this store") from None
        raise TrackingError(f"cannot read run {run_id!r}: {err.message}") from None


def runs_by_id(client: Any, run_ids: Sequence[str]) -> list:
    """The runs named by id, in the order given, duplicates dropped."""
    return [get_run(client, run_id) for run_id in dict.fromkeys(run_ids)]


def histories(
    client: Any, run_ids: Sequence[str], keys: Iterable[str] = METRICS
) -> dict[str, dict[str, History]]:
    """run id -> metric key -> [(step, value)], by step; the last value logged wins a step."""
    keys = list(keys)
    found: dict[str, dict[str, list]] = {run_id: {key: [] for key in keys} for run_id in run_ids}
    store = getattr(getattr(client, "_tracking_client", None), "store", None)
    bulk = getattr(store, "get_metric_history_bulk", None)  # SQL stores: one query per chunk
    if bulk is not None:
        for key in keys:
            for i in range(0, len(run_ids), BULK_RUNS):
                chunk = list(run_ids[i : i + BULK_RUNS])
                for item in bulk(chunk, key, max_results=2**31 - 1):
                    found[item.run_id][key].append(item)
    else:  # a tracking server: one call per run and key, a few at a time
        pairs = [(run_id, key) for run_id in run_ids for key in keys]
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = pool.map(lambda p: client.get_metric_history(*p), pairs)
            for (run_id, key), metrics in zip(pairs, results, strict=True):
                found[run_id][key] = list(metrics)
    return {
        run_id: {key: _by_step(metrics) for key, metrics in per_key.items()}
        for run_id, per_key in found.items()
    }


def _by_step(metrics: list) -> History:
    latest = {}
    for m in sorted(metrics, key=lambda m: (m.timestamp, m.step)):
        latest[m.step] = m.value
    return sorted(latest.items())


def labels(runs: Sequence) -> dict[str, str]:
    """run id -> its name, with a short id added where names repeat (runs of several sweeps)."""
    names = [r.info.run_name or r.info.run_id[:8] for r in runs]
    return {
        r.info.run_id: name if names.count(name) == 1 else f"{name} ({r.info.run_id[:6]})"
        for r, name in zip(runs, names, strict=True)
    }


def summarize(runs: Sequence, found: Mapping[str, Mapping[str, History]]) -> list[dict]:
    """One row per run (COLUMNS), sorted by best val/loss; runs without one come last."""
    rows = []
    for run in runs:
        h = found.get(run.info.run_id, {})
        lr, val_loss = h.get("lr", []), h.get("val/loss", [])
        losses = [v for _, v in val_loss if math.isfinite(v)]
        accs = [(v, step) for step, v in h.get("val/acc", []) if math.isfinite(v)]
        best_acc = max(accs, key=lambda a: (a[0], -a[1])) if accs else (None, None)
        end = run.info.end_time
        rows.append(
            {
                "run_id": run.info.run_id,
                "run_name": run.info.run_name,
                "sched": run.data.tags.get("lrchain.sched", ""),
                "status": run.info.status,
                "epochs": len(val_loss),
                "final_lr": lr[-1][1] if lr else None,
                "final_val_loss": val_loss[-1][1] if val_loss else None,
                "best_val_loss": min(losses) if losses else None,
                "best_val_acc": best_acc[0],
                "best_val_acc_epoch": best_acc[1],
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


FORMATS = {"final_lr": ".4g", "wall_seconds": ".1f", "epochs": "d", "best_val_acc_epoch": "d"}


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) or key in FORMATS:
        return format(value, FORMATS.get(key, ".4f"))
    return str(value).replace("|", "\\|")


def to_markdown(rows: Sequence[Mapping]) -> str:
    """A Markdown table with aligned columns, readable as it is in a terminal."""
    cells = [list(COLUMNS)] + [[_cell(k, row[k]) for k in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |"
        for line in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines) + "\n"


def _xy(history: History) -> tuple[list[int], list[float]]:
    return [step for step, _ in history], [value for _, value in history]


def write_comparison(client: Any, runs: Sequence, out: Path, title: str) -> list[dict]:
    """Write lr.png, loss.png, summary.csv and summary.md of `runs` into `out`; return the rows."""
    from lrchain.plots import plot_run_lrs, plot_run_metrics

    if not runs:
        raise ConfigError("no runs to compare")
    found = histories(client, [r.info.run_id for r in runs])
    rows = summarize(runs, found)
    names = labels(runs)
    order = [row["run_id"] for row in rows]  # legend from best to worst
    series = {names[run_id]: {key: _xy(found[run_id][key]) for key in METRICS} for run_id in order}
    out.mkdir(parents=True, exist_ok=True)
    plot_run_lrs({name: s["lr"] for name, s in series.items()}, out / "lr.png", title)
    plot_run_metrics(series, METRICS[1:], out / "loss.png", title)
    (out / "summary.csv").write_text(to_csv(rows))
    (out / "summary.md").write_text(f"# {title}\n\n" + to_markdown(rows))
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("parent", nargs="?", metavar="PARENT_RUN_ID", help="a sweep's parent run")
    which.add_argument("--experiment", metavar="NAME", help="every run of an experiment")
    which.add_argument("--runs", nargs="+", metavar="ID", help="these runs, from any sweeps")
    parser.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="the store (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)",
    )
    parser.add_argument(
        "--out", default="comparison", metavar="DIR", help="output folder (default: comparison)"
    )


def open_store(configured: str | None, here: Path) -> tuple[Any, str]:
    """A client on an existing store; a missing SQLite file is an error, not a new store."""
    from mlflow import MlflowClient

    from lrchain.tracking import tracking_uri

    uri = tracking_uri(configured, here)
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///") :]).is_file():
        raise TrackingError(
            f"no MLflow store at {uri}; run where train.py was launched or pass --tracking-uri"
        )
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    return MlflowClient(uri), uri


def run(args: argparse.Namespace) -> int:
    from mlflow.exceptions import MlflowException

    client, uri = open_store(args.tracking_uri, Path.cwd())
    try:
        return _compare(client, uri, args)
    except MlflowException as err:
        raise TrackingError(f"cannot read runs from {uri}: {err.message}") from None


def _compare(client: Any, uri: str, args: argparse.Namespace) -> int:
    if args.parent:
        runs = children_of(client, args.parent)
        title = get_run(client, args.parent).info.run_name or args.parent
        if not runs:
            raise ConfigError(
                f"run {args.parent} ({title}) has no child runs, so it is not the parent run of a"
                " sweep; compare single runs with --runs ID [ID ...]"
            )
    elif args.experiment:
        runs, title = runs_of_experiment(client, args.experiment), f"experiment {args.experiment}"
    else:
        runs, title = runs_by_id(client, args.runs), f"{len(set(args.runs))} runs"
    out = Path(args.out)
    rows = write_comparison(client, runs, out, title)
    print(to_markdown(rows), end="")
    print(f"wrote {', '.join(str(out / f) for f in FILES)} ({len(rows)} runs, from {uri})")
    return 0
