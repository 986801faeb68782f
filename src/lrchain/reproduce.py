"""`lrchain reproduce RUN_ID`: re-run a logged config as a new run and prove the numbers agree."""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path
from typing import Any

from lrchain.errors import ConfigError, TrackingError

TIMING = ("epoch_seconds",)  # wall-clock metrics: shown, never expected to agree
PROVENANCE = ("lrchain.version", "lrchain.git_commit", "lrchain.git_dirty", "lrchain.torch")
PROVENANCE += ("lrchain.mlflow", "lrchain.hydra", "lrchain.python")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", metavar="RUN_ID", help="the run to re-run")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="OVERRIDE",
        help="changes for the re-run, e.g. optim.lr=0.05 or sched=exp (then it is a re-run"
        " with changes: the table shows what moved)",
    )
    add_store_argument(parser)


def add_store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tracking-uri",
        help="the store holding the run (default: $MLFLOW_TRACKING_URI, else ./mlflow.db)",
    )


def open_run(uri_arg: str | None, run_id: str) -> tuple[Any, Any, str]:
    """The client of the store, the run, and the store's URI; a clear error when missing."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from lrchain import tracking

    uri = tracking.tracking_uri(uri_arg, Path.cwd())
    tracking.limit_retries()
    client = MlflowClient(uri)
    try:
        return client, client.get_run(run_id), uri
    except MlflowException as err:
        raise TrackingError(f"run {run_id!r} not found at {uri}: {err.message}") from None


def logged_config(client: Any, run_id: str) -> dict[str, Any]:
    """The run's config/config.yaml as plain values, checked before anything is built from it."""
    import yaml

    from lrchain.configs import check_config

    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, "config/config.yaml", tmp)
        except Exception as err:
            raise TrackingError(f"run {run_id} has no config/config.yaml artifact: {err}") from None
        settings = yaml.safe_load(Path(path).read_text())
    if not isinstance(settings, dict):
        raise ConfigError(f"run {run_id}: config/config.yaml is not a config mapping")
    check_config(settings)
    return settings


def apply_overrides(settings: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """`key=value` changes: a config group choice (sched=exp) swaps the subtree, others set keys."""
    import yaml

    from lrchain.configs import conf_dir

    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{item!r}: an override is KEY=VALUE, e.g. optim.lr=0.05")
        group_file = conf_dir() / key / f"{text}.yaml"
        if "." not in key and group_file.exists():
            settings[key] = yaml.safe_load(group_file.read_text())
            continue
        node = settings
        *parents, last = key.split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"{key}: no such key in the logged config")
            node = node[part]
        if last not in node:
            raise ConfigError(f"{key}: no such key in the logged config")
        node[last] = yaml.safe_load(text)
    return settings


def version_warnings(tags: dict[str, str]) -> list[str]:
    """What differs between the code and libraries that made the run and the ones here."""
    from lrchain.provenance import code_tags

    now = code_tags()
    return [
        f"{key}: the run was made with {tags[key]}, this is {now.get(key, 'unknown')}"
        for key in PROVENANCE
        if key in tags and tags[key] != now.get(key)
    ]


def compare_histories(client: Any, first: str, second: str) -> list[dict[str, Any]]:
    """Per metric of either run: points and the largest absolute difference over its steps."""
    keys = sorted(client.get_run(first).data.metrics.keys() | client.get_run(second).data.metrics)
    rows = []
    for key in keys:
        a = {m.step: m.value for m in client.get_metric_history(first, key)}
        b = {m.step: m.value for m in client.get_metric_history(second, key)}
        same_steps = a.keys() == b.keys()
        diff = max((abs(a[s] - b[s]) for s in a if s in b), default=0.0) if same_steps else math.inf
        rows.append(
            {
                "metric": key,
                "points": f"{len(a)}" if len(a) == len(b) else f"{len(a)} vs {len(b)}",
                "max_abs_diff": diff,
                "compared": key not in TIMING,
            }
        )
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'metric':<16} {'points':>9} {'max abs diff':>14}"]
    for r in rows:
        note = "" if r["compared"] else "  (timing, not compared)"
        lines.append(f"{r['metric']:<16} {r['points']:>9} {r['max_abs_diff']:>14.6g}{note}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from lrchain.job import Launch, train

    client, original, uri = open_run(args.tracking_uri, args.run_id)
    settings = apply_overrides(logged_config(client, args.run_id), args.overrides)
    for warning in version_warnings(original.data.tags):
        print(f"[lrchain] warning: {warning}")
    launch = Launch(
        launch_dir=Path.cwd(),
        overrides=args.overrides,
        tags={"lrchain.reproduced_from": args.run_id},
        name=f"{original.info.run_name} (reproduced)",
        tracking_uri=uri,
    )
    result = train(settings, launch)
    rows = compare_histories(client, args.run_id, result.run_id)
    print(format_table(rows))
    agree = all(r["max_abs_diff"] == 0 for r in rows if r["compared"])
    verdict = "agree bit for bit" if agree else "differ"
    print(f"[lrchain] {args.run_id} and its re-run {result.run_id} {verdict}")
    return 0 if agree else 1
