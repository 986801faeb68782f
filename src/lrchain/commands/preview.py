"""`lrchain preview`: the learning rate of schedules over a run, computed without data or model."""

from __future__ import annotations

import argparse
from pathlib import Path

from lrchain.catalog import train_size
from lrchain.configs import compose, conf_dir, plain
from lrchain.contract import HEAD

HELP = "draw the learning-rate curves of schedules, without training"
CLASSIC = ["step", "exp", "chain"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="schedules of conf/sched/, or `all` (default: step exp chain)",
    )
    parser.add_argument("--epochs", type=int, help="length of the run (default: trainer.epochs)")
    parser.add_argument(
        "--out",
        default="lrchain-preview",
        help="writes OUT.png and OUT.csv (default: lrchain-preview)",
    )
    parser.add_argument(
        "-o",
        dest="overrides",
        action="append",
        default=[],
        metavar="OVERRIDE",
        help="a Hydra override for every schedule, e.g. -o sched.chain.exp.gamma=0.8 or"
        " -o optim.lr=0.05 (repeatable)",
    )


def catalog() -> list[str]:
    """The schedule names of conf/sched/."""
    return sorted(p.stem for p in (conf_dir() / "sched").glob("*.yaml"))


def curves(names: list[str], overrides: list[str], epochs: int | None) -> dict[str, dict]:
    """Per schedule and param group (`NAME`, and `NAME head` with optim.head_lr): epoch and
    per-batch learning rates, and batches per epoch."""
    from lrchain.data import steps_per_epoch
    from lrchain.models import scratch_optimizer
    from lrchain.param_groups import sched_for_groups
    from lrchain.schedules import expected_group_lrs

    result = {}
    for name in names:
        config = plain(compose([f"sched={name}", *overrides]))
        n_epochs = epochs or config["trainer"]["epochs"]
        steps = steps_per_epoch(train_size(config["data"]), config["trainer"]["batch_size"])
        optimizer = scratch_optimizer(config["optim"])
        sched = sched_for_groups(config["sched"], config["optim"])
        per_epoch, per_step = expected_group_lrs(sched, optimizer, n_epochs, steps)
        for group, (epoch_lrs, step_lrs) in enumerate(zip(per_epoch, per_step, strict=True)):
            shown = name if group == 0 else f"{name} {HEAD}"
            result[shown] = {"epoch": epoch_lrs, "step": step_lrs, "steps_per_epoch": steps}
    return result


def head_of(shown: str) -> str | None:
    """The schedule whose head curve `shown` is (`onecycle head`), else None."""
    name, _, group = shown.rpartition(" ")
    return name if group == HEAD and name else None


def table(found: dict[str, dict], columns: int = 8) -> str:
    """A short text table, one row per schedule, a few epochs across (within 100 columns)."""
    epochs = len(next(iter(found.values()))["epoch"])
    picked = sorted({round(i * (epochs - 1) / (columns - 1)) for i in range(columns)})
    width = max(8, *(len(n) for n in found))
    lines = [f"{'epoch':<{width}} " + " ".join(f"{e + 1:>9}" for e in picked)]
    for name, c in found.items():
        lines.append(f"{name:<{width}} " + " ".join(f"{c['epoch'][e]:>9.3g}" for e in picked))
    return "\n".join(lines)


def write_csv(found: dict[str, dict], path: Path) -> Path:
    epochs = len(next(iter(found.values()))["epoch"])
    lines = [",".join(["epoch", *found])]
    lines += [
        ",".join([str(e), *(repr(c["epoch"][e]) for c in found.values())]) for e in range(epochs)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def run(args: argparse.Namespace) -> int:
    from lrchain.preview_figure import plot_lr_curves

    names = args.names or CLASSIC
    if names == ["all"]:
        names = catalog()
    found = curves(names, args.overrides, args.epochs)
    lines, heads = {}, {}
    for shown, c in found.items():
        if c["step"]:
            steps = c["steps_per_epoch"]
            line = ([1 + i / steps for i in range(len(c["step"]))], c["step"])
        else:  # epoch e (from 1) trains at its lr from e to e + 1 on the axis
            line = (list(range(1, len(c["epoch"]) + 1)), c["epoch"])
        if head_of(shown):
            heads[head_of(shown)] = line
        else:
            lines[shown] = line
    out = Path(args.out)
    out = out.with_suffix("") if out.suffix in (".png", ".csv") else out
    title = " vs ".join(names) if len(names) <= 4 else f"{len(names)} schedules"
    title += f"\n{' '.join(args.overrides)}" if args.overrides else ""
    png = plot_lr_curves(lines, out.with_name(out.name + ".png"), title, heads)
    csv = write_csv(found, out.with_name(out.name + ".csv"))
    print(table(found))
    print(f"wrote {png} and {csv}")
    return 0
