"""lrchain against plain PyTorch + MLflow code: throughput, logging, start-up, sweeps, compare.

    .venv/bin/python benchmarks/bench.py            # the full table (`make bench`), about 30 min
    .venv/bin/python benchmarks/bench.py --quick    # fewer repetitions and epochs, to try it out

Every figure is the median of several repetitions, shown as `median (min-max, n)`. Where both
sides ran in each repetition (tracking on/off, lrchain/plain sweep, launchers), the ratio is the
median of the repetitions' own ratios: a pair shares that minute's load. Everything
runs with the thread count a run gets by default (trainer.threads=auto: the cores this process
may use) and passive OpenMP waiting, as train.py sets it; hand-written baselines get the same
through OMP_NUM_THREADS and OMP_WAIT_POLICY, so that only the code differs (`--threads N` fixes
the count for both). The `threads` section measures the thread policy itself. Stores and launch
folders are temporary folders under the system's temp folder, removed afterwards. Each section
is a module beside this one; harness.py holds what they share.
"""

from __future__ import annotations

import argparse
import os
import time

import checkpoints
import compare_runs
import killed
import launchers
import parallel_server
import startup
import sweeps
import threads
import throughput
import tracking_cost
from harness import ROOT, Plan, Row, load_average, log, machine, table

SECTIONS = {
    "engine": (throughput.TITLE, throughput.rows),
    "logging": (tracking_cost.TITLE, tracking_cost.rows),
    "checkpoints": (checkpoints.TITLE, checkpoints.rows),
    "threads": (threads.TITLE, threads.rows),
    "server": (parallel_server.TITLE, parallel_server.rows),
    "resume": (killed.TITLE, killed.rows),
    "startup": (startup.TITLE, startup.rows),
    "sweep": (sweeps.SWEEP_TITLE, sweeps.sweep_rows),
    "growth": (sweeps.GROWTH_TITLE, sweeps.growth_rows),
    "launchers": (launchers.TITLE, launchers.rows),
    "compare": (compare_runs.TITLE, compare_runs.rows),
}


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and epochs")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="intra-op threads of every measurement (default 0: trainer.threads=auto, as a run)",
    )
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="measure only these sections")
    return parser.parse_args()


def measure(plan: Plan, keys: list[str], started: float) -> list[Row]:
    """The rows of the chosen sections; a section that fails gives one n/a row."""
    rows: list[Row] = []
    for key in keys:
        title, section = SECTIONS[key]
        log(f"{title} ({time.perf_counter() - started:.0f} s so far)")
        try:
            rows += section(plan)
        except Exception as err:  # one broken section must not cost the others' figures
            log(f"{key} failed: {err!r}")
            rows.append(Row(key, None, text=f"n/a ({type(err).__name__}, see stderr)"))
    return rows


def main() -> None:
    args = arguments()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as train.py; read when torch loads
    import torch

    from lrchain import configs
    from lrchain.build import resolve_threads

    default_threads = torch.get_num_threads()
    threads = resolve_threads(args.threads or "auto")
    torch.set_num_threads(threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    started, before = time.perf_counter(), machine(threads, default_threads)
    cfg = configs.plain(configs.compose([], ROOT / "conf"))  # the config train.py sees
    cfg["trainer"]["threads"] = threads  # the runs made in this process
    if cfg["trainer"]["deterministic"]:  # as train.py runs by default, for both sides
        torch.use_deterministic_algorithms(True, warn_only=True)
    reps, sweep_reps, epochs = (3, 1, 5) if args.quick else (5, 2, 20)
    plan = Plan(reps, sweep_reps, epochs, threads, device, cfg, fixed=bool(args.threads))
    rows = measure(plan, args.only or list(SECTIONS), started)

    print(f"\nMachine: {before}")
    print(f"Load average at the end: {load_average()}\n")
    print(table(rows), end="")
    print(
        "\nbaseline: DataLoader(TensorDataset) + loss.item() per batch (throughput), the same run"
        " untracked (tracking), benchmarks/plain_sweep.py (sweeps). median (min-max, n); ratio of"
        " runs made side by side: the median of each pair's ratio."
    )
    print(f"bench took {time.perf_counter() - started:.0f} s{' (--quick)' if args.quick else ''}")


if __name__ == "__main__":
    main()
