"""`lrchain compare`: the comparison of a sweep, an experiment or chosen runs, from any store."""

from __future__ import annotations

import argparse
from pathlib import Path

from lrchain import comparison, grouped, store
from lrchain.errors import ConfigError, TrackingError
from lrchain.statistics import FIGURES

HELP = "compare logged runs: figures and tables per run, and per group of seeds with verdicts"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("parent", nargs="?", metavar="PARENT_RUN_ID", help="a sweep's parent run")
    which.add_argument("--experiment", metavar="NAME", help="every run of an experiment")
    which.add_argument("--runs", nargs="+", metavar="ID", help="these runs, from any sweeps")
    store.add_uri_argument(parser)
    parser.add_argument(
        "--out", default="comparison", metavar="DIR", help="output folder (default: comparison)"
    )
    parser.add_argument(
        "--group-by",
        metavar="KEY[,KEY]",
        help="params or config groups whose runs form a group, seeds as replicates (default:"
        " every param that differs between the runs except seed; 'none': one row per run)",
    )
    parser.add_argument(
        "--metric",
        default=grouped.DEFAULT_METRIC,
        metavar="NAME",
        help=f"rank groups by this and compare each with the best ({', '.join(FIGURES)};"
        f" default: {grouped.DEFAULT_METRIC})",
    )


def run(args: argparse.Namespace) -> int:
    from mlflow.exceptions import MlflowException

    uri = store.resolve_uri(args.tracking_uri, Path.cwd())
    client = store.open_existing(uri)
    try:
        runs, title = _choose(client, args)
        out = Path(args.out)
        result = comparison.write_comparison(
            client, runs, out, title, group_by=args.group_by, metric=args.metric
        )
    except MlflowException as err:
        raise TrackingError(f"cannot read runs from {uri}: {err.message}") from None
    print(result.report(), end="")
    groups = f" in {len(result.groups.groups)} groups" if result.groups else ""
    written = ", ".join(str(out / f) for f in result.files())
    print(f"wrote {written} ({len(result.rows)} runs{groups}, from {uri})")
    return 0


def _choose(client, args: argparse.Namespace) -> tuple[list, str]:
    """The runs the arguments name, and a title for them."""
    if args.parent:
        runs = store.children_of(client, args.parent)
        title = store.get_run(client, args.parent).info.run_name or args.parent
        if not runs:
            raise ConfigError(
                f"run {args.parent} ({title}) has no child runs, so it is not the parent run of a"
                " sweep; compare single runs with --runs ID [ID ...]"
            )
        return runs, title
    if args.experiment:
        return store.runs_of_experiment(client, args.experiment), f"experiment {args.experiment}"
    return store.runs_by_id(client, args.runs), f"{len(set(args.runs))} runs"
