"""`lrchain reproduce RUN_ID`: re-run a logged config as a new run and prove the numbers agree."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from lrchain import store
from lrchain.commands import add_run_arguments
from lrchain.contract import TAG_REPRODUCED_FROM, TAG_THREADS, TIMING

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
    threads, why = same_threads(original.data.tags.get(TAG_THREADS), config)
    launch = Launch(
        launch_dir=Path.cwd(),
        overrides=args.overrides,
        tags={TAG_REPRODUCED_FROM: args.run_id},
        name=f"{original.info.run_name} (reproduced)",
        tracking_uri=uri,
        threads=threads,
    )
    changed = store.changed_keys(store.flatten(config), original.data.params)
    result = train(config, launch)
    rows = compare_histories(client, args.run_id, result.run_id)
    print(format_table(rows))
    agree = all(r["max_abs_diff"] == 0 for r in rows if r["compared"])
    if not agree and why:
        print(f"[lrchain] why the numbers may differ: {why}")
    return verdict(args.run_id, result.run_id, agree, changes(changed, original, config))


def same_threads(recorded: str | None, config: dict[str, Any]) -> tuple[int | None, str | None]:
    """The re-run's thread count: the recorded one; else None and why the numbers may differ.

    Float sums differ in the last bits between thread counts, so a re-run on another count
    need not agree bit for bit. A `trainer.threads=N` given on the command line wins.
    """
    from lrchain.build import resolve_threads, usable_cores

    setting = config["trainer"].get("threads", "auto")
    here = resolve_threads(setting)
    why = None
    if recorded is None:
        why = (
            f"the run did not record its thread count (made before lrchain recorded it); this"
            f" re-run uses {here}, and float sums differ in the last bits between thread counts:"
            " pass trainer.threads=N with the count it had"
        )
    elif setting != "auto" and here != int(recorded):
        why = (
            f"the run trained on {recorded} thread(s), this re-run on {here} (trainer.threads);"
            " float sums differ in the last bits between thread counts"
        )
    if why is not None:
        print(f"[lrchain] warning: {why}")
        return None, why
    cores = usable_cores()
    slower = f" (more than the {cores} cores here: slower, same numbers)" * (int(recorded) > cores)
    print(f"[lrchain] re-runs on {recorded} thread(s), as the run did{slower}")
    return int(recorded), None


def changes(keys: list[str], original: Any, config: dict[str, Any]) -> list[str]:
    """`key: old -> new` for each param the re-run changed."""
    now = store.flatten(config)
    return [f"{k}: {original.data.params.get(k, '-')} -> {now.get(k, '-')}" for k in keys]


def verdict(run_id: str, rerun_id: str, agree: bool, changed: list[str]) -> int:
    """Say what the comparison means; 0: reproduced or changed on purpose, 1: not reproduced."""
    if changed:
        print(f"[lrchain] changed on purpose: {'; '.join(changed)}")
        result = "agree even so" if agree else "differ, as the changes make them"
        print(f"[lrchain] {run_id} and its re-run with changes {rerun_id} {result}")
        return 0
    if agree:
        print(f"[lrchain] {run_id} and its re-run {rerun_id} agree bit for bit: reproduced")
        return 0
    print(f"[lrchain] {run_id} and its re-run {rerun_id} differ: NOT reproduced", file=sys.stderr)
    return 1
