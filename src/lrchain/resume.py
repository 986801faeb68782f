"""`lrchain resume RUN_ID`: continue an interrupted run from its last complete epoch."""

from __future__ import annotations

import argparse
from pathlib import Path

from lrchain.reproduce import add_store_argument, apply_overrides, logged_config, open_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", metavar="RUN_ID", help="the run to continue")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="OVERRIDE",
        help="changes to the logged config (refused unless --allow-changes)",
    )
    parser.add_argument(
        "--allow-changes",
        action="store_true",
        help="resume with a changed config; the changed keys are recorded as a tag",
    )
    add_store_argument(parser)


def run(args: argparse.Namespace) -> int:
    from lrchain.job import Launch, train

    client, run_info, uri = open_run(args.tracking_uri, args.run_id)
    if run_info.info.status == "FINISHED":
        print(f"[lrchain] run {args.run_id} is FINISHED already; nothing to resume")
        return 0
    settings = apply_overrides(logged_config(client, args.run_id), args.overrides)
    launch = Launch(
        launch_dir=Path.cwd(),
        resume_id=args.run_id,
        allow_changes=args.allow_changes,
        tracking_uri=uri,
    )
    result = train(settings, launch)
    print(f"[lrchain] run {result.run_id} resumed and FINISHED")
    return 0
