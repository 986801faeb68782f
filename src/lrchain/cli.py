"""The `lrchain` command: preview schedules, compare runs, reproduce and resume them."""

from __future__ import annotations

import argparse
import importlib
import sys

from lrchain.errors import ConfigError, TrackingError

# subcommand -> (module with add_arguments(parser) and run(args) -> int, one-line help)
COMMANDS = {
    "preview": ("lrchain.preview", "draw the learning-rate curves of schedules, without training"),
    "compare": ("lrchain.compare", "compare logged runs: LR and loss figures and a summary table"),
    "reproduce": (
        "lrchain.reproduce",
        "re-run a logged run from its config and compare the numbers",
    ),
    "resume": ("lrchain.resume", "continue an interrupted run from its last complete epoch"),
    "sync": ("lrchain.spool", "upload what a run kept on disk while its store was unreachable"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lrchain",
        description="Compare chained learning-rate schedules. Train with `python train.py -m"
        " sched=step,exp,chain`; these commands work on schedules and logged runs.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = {}
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
        modules[name] = module
    args = parser.parse_args(argv)
    try:
        return modules[args.command].run(args)
    except (ConfigError, TrackingError) as err:
        print(f"lrchain {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
