"""The `lrchain` command: each subcommand lives in lrchain/commands/NAME.py."""

from __future__ import annotations

import argparse
import importlib
import sys

from lrchain.errors import ConfigError, TrackingError

COMMANDS = ("preview", "compare", "reproduce", "resume", "sync")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lrchain",
        description="Compare chained learning-rate schedules. Train with `python train.py -m"
        " sched=step,exp,chain`; these commands work on schedules and logged runs.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = {}
    for name in COMMANDS:
        module = importlib.import_module(f"lrchain.commands.{name}")
        module.add_arguments(sub.add_parser(name, help=module.HELP, description=module.HELP))
        modules[name] = module
    args = parser.parse_args(argv)
    from lrchain.progress import to_console

    to_console()
    try:
        return modules[args.command].run(args)
    except (ConfigError, TrackingError) as err:
        print(f"lrchain {args.command}: {err}", file=sys.stderr)
        return 2


def entry() -> None:
    """The `lrchain` program: main(), ended without Python's tear-down when it succeeded."""
    from lrchain import exiting

    exiting.install()
    status = main()
    if status == 0:
        exiting.succeeded()
    sys.exit(status)


if __name__ == "__main__":
    entry()
