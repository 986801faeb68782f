"""`lrchain sync RUN_DIR`: upload what a run kept on disk while its store was unreachable."""

from __future__ import annotations

import argparse
from pathlib import Path

from lrchain import store
from lrchain.errors import TrackingError

HELP = "upload what a run kept on disk while its store was unreachable"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dir",
        metavar="RUN_DIR",
        help="a job's output folder (or its lrchain-run/ folder) holding what the store missed",
    )


def run(args: argparse.Namespace) -> int:
    from lrchain.spool import RunLog

    try:
        log = RunLog.reopen(Path(args.run_dir))
        sent = log.sync()
        status = log.client.get_run(log.run_id).info.status
    except store.unreachable() as err:
        raise TrackingError(
            f"the store of {args.run_dir} still does not answer ({type(err).__name__});"
            " nothing was lost: run the same command again once it is up"
        ) from None
    print(f"[lrchain] run {log.run_id}: {sent} epochs uploaded; its status is {status}")
    return 0
