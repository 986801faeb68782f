"""`lrchain reproduce RUN_ID`: re-run a logged config as a new run and prove the numbers agree."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from lrchain import store
from lrchain.commands import add_run_arguments
from lrchain.contract import TAG_REPRODUCED_FROM, TIMING

HELP = "re-run a logged run from its config and compare the numbers"
PROVENANCE = ("lrchain.version", "lrchain.git_commit", "lrchain.git_dirty", "lrchain.torch")
PROVENANCE += ("lrchain.mlflow", "lrchain.hydra", "lrchain.python")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(
        parser,
        "the run to re-run",
        "changes for the re-run, e.g. optim.lr=0.05 or sched=exp (then it is a re-run with"
        " changes: the table shows what moved)",
    )


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
    found = store.histories(client, [first, second], keys)
    rows = []
    for key in keys:
        a, b = dict(found[first][key]), dict(found[second][key])
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
    from lrchain.configs import apply_overrides, logged_config
    from lrchain.training import Launch, train

    uri = store.resolve_uri(args.tracking_uri, Path.cwd())
    client = store.open_existing(uri)
    original = store.get_run(client, args.run_id)
    config = apply_overrides(logged_config(client, args.run_id), args.overrides)
    for warning in version_warnings(original.data.tags):
        print(f"[lrchain] warning: {warning}")
    launch = Launch(
        launch_dir=Path.cwd(),
        overrides=args.overrides,
        tags={TAG_REPRODUCED_FROM: args.run_id},
        name=f"{original.info.run_name} (reproduced)",
        tracking_uri=uri,
    )
    result = train(config, launch)
    rows = compare_histories(client, args.run_id, result.run_id)
    print(format_table(rows))
    agree = all(r["max_abs_diff"] == 0 for r in rows if r["compared"])
    verdict = "agree bit for bit" if agree else "differ"
    print(f"[lrchain] {args.run_id} and its re-run {result.run_id} {verdict}")
    return 0 if agree else 1
