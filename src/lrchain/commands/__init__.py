"""The `lrchain` subcommands, one module each: `add_arguments(parser)` and `run(args) -> int`."""

from __future__ import annotations

import argparse


def add_run_arguments(parser: argparse.ArgumentParser, run_help: str, overrides_help: str) -> None:
    """RUN_ID and OVERRIDE... of the commands that act on one logged run, and --tracking-uri."""
    from lrchain.store import add_uri_argument

    parser.add_argument("run_id", metavar="RUN_ID", help=run_help)
    parser.add_argument("overrides", nargs="*", metavar="OVERRIDE", help=overrides_help)
    add_uri_argument(parser)
