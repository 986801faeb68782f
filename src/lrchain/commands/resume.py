"""`lrchain resume RUN_ID`: continue an interrupted run from its last complete epoch."""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any

from lrchain import store
from lrchain.commands import add_run_arguments
from lrchain.contract import LR, TAG_RESUME_CHANGES, TAG_THREADS
from lrchain.errors import ConfigError

HELP = "continue an interrupted run from its last complete epoch"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(
        parser,
        "the run to continue",
        "changes to the logged config (refused unless --allow-changes)",
    )
    parser.add_argument(
        "--allow-changes",
        action="store_true",
        help="resume with a changed config; the changed keys are recorded as a tag",
    )


def run(args: argparse.Namespace) -> int:
    uri = store.resolve_uri(args.tracking_uri, Path.cwd())
    client = store.open_existing(uri)
    logged = store.get_run(client, args.run_id)
    if logged.info.status == "FINISHED":
        print(f"[lrchain] run {args.run_id} is FINISHED already; nothing to resume")
        return 0
    result = resume(client, logged, args.overrides, args.allow_changes, Path.cwd())
    print(f"[lrchain] run {result.run_id} resumed and FINISHED")
    return 0


def resume(
    client: Any, logged: Any, overrides: list[str], allow_changes: bool, launch_dir: Path
) -> Any:
    """Check, build, reopen the logged run from its checkpoint, and train it to the end."""
    from lrchain.build import build
    from lrchain.configs import apply_overrides, logged_config
    from lrchain.training import complete
    from lrchain.validate import validate

    run_id = logged.info.run_id
    before = logged_config(client, run_id)
    config = apply_overrides(copy.deepcopy(before), overrides)  # it changes what it is given
    validate(config)
    check_same_groups(before, config)
    changed = store.changed_keys(store.flatten(config), logged.data.params)
    if changed and not allow_changes:
        raise ConfigError(
            f"resume: the config differs from the logged one in {', '.join(changed)}; MLflow"
            " keeps a run's params fixed: resume without changes, or pass --allow-changes"
        )
    parts = build(config, launch_dir, recorded_threads(logged, changed))
    return complete(config, parts, reopen(client, logged, parts, changed, launch_dir))


def check_same_groups(before: dict[str, Any], after: dict[str, Any]) -> None:
    """A checkpoint holds the run's param groups: a resume cannot add or drop the head's."""
    from lrchain.param_groups import group_names, head_lr

    if group_names(before["optim"]) != group_names(after["optim"]):
        was, now = head_lr(before["optim"]), head_lr(after["optim"])
        allowed = "null, as the run trained" if was is None else "a number above 0, as the run"
        raise ConfigError(
            f"optim.head_lr: got {now!r}, the run trained with {was!r}; a resume keeps the"
            f" run's param groups (its checkpoint holds them); allowed: {allowed}"
        )


def recorded_threads(logged: Any, changed: list[str]) -> int | None:
    """The thread count the run trained with, so re-run epochs compute the same; None: unknown."""
    recorded = logged.data.tags.get(TAG_THREADS)
    if recorded is None or "trainer.threads" in changed:
        return None
    return int(recorded)


def reopen(client: Any, logged: Any, parts: Any, changed: list[str], launch_dir: Path) -> Any:
    """Load the run's last checkpoint into `parts`, log the epochs the store missed; RUNNING.

    Checkpoints come every `trainer.checkpoint_every` seconds, so the store may hold epochs
    after the checkpoint: the run re-runs them and compares (lrchain.training.record).
    """
    from lrchain import checkpoint
    from lrchain.training import Run, run_log

    run_id = logged.info.run_id
    saved = store.get_checkpoint(client, run_id, logged.info.artifact_uri)
    history = checkpoint.restore(parts, saved) if saved is not None else []
    store.relog_missed(client, run_id, history)
    held = store.logged_points(client, run_id, logged.data.metrics.keys())
    if changed:
        client.set_tag(run_id, TAG_RESUME_CHANGES, ",".join(changed)[:5000])
    client.update_run(run_id, status="RUNNING")
    name = logged.info.run_name
    start = history[-1]["epoch"] + 1 if history else 0
    again = len({step for step in held.get(LR, {}) if step >= start})
    rerun = f", re-runs {again} logged epoch(s) to check them" if again else ""
    print(
        f"[lrchain] resumes {name} ({run_id}) at {client.tracking_uri} from epoch {start}"
        f" on {parts.threads} thread(s){rerun}",
        flush=True,
    )
    log = run_log(client, run_id, None, launch_dir)
    return Run(client, run_id, name, log, history=history, resumed=True, logged=held)
