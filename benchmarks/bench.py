"""lrchain against plain PyTorch + MLflow code: throughput, logging, start-up, sweeps, compare.

    .venv/bin/python benchmarks/bench.py            # the full table (`make bench`), < 15 min
    .venv/bin/python benchmarks/bench.py --quick    # fewer repetitions and epochs, to try it out

Every figure is the median of several repetitions, shown as `median (min-max, n)`. Everything
runs with the same number of intra-op threads, also passed to the subprocesses as OMP_NUM_THREADS:
1 by default, because on a small machine shared with other work two OpenMP threads spin-wait on
each other and timings swing by 10x or more (`--threads 0` takes torch's own default). Stores
and launch folders are temporary folders under the system's temp folder, removed afterwards.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import copy
import functools
import io
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("mlflow", "torchvision", "matplotlib", "sklearn")  # --help must import none of them


@dataclass
class Stat:
    """Repeated measurements of one figure."""

    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def show(self, fmt: str) -> str:
        med = format(self.median, fmt)
        if len(self.samples) == 1:
            return f"{med} (n=1)"
        return f"{med} ({min(self.samples):{fmt}}-{max(self.samples):{fmt}}, n={len(self.samples)})"


@dataclass
class Row:
    """One line of the table: lrchain's figure, the baseline's, and the target they meet."""

    figure: str
    ours: Stat | None
    base: Stat | None = None
    fmt: str = ".2f"
    target: str = "-"
    met: Callable[[float, float | None], bool] | None = None  # (ours, ratio) -> met?
    text: str = "n/a"  # shown when there is no measurement
    ok: bool | None = None  # met or not, for a row without a measurement

    def cells(self) -> list[str]:
        ours = self.ours.show(self.fmt) if self.ours else self.text
        base = self.base.show(self.fmt) if self.base else "-"
        ratio = self.ours.median / self.base.median if self.ours and self.base else None
        ok = self.ok
        if self.met is not None and self.ours is not None:
            with contextlib.suppress(TypeError):  # a ratio target without a baseline: no verdict
                ok = self.met(self.ours.median, ratio)
        met = "-" if ok is None else "yes" if ok else "**no**"
        return [
            self.figure,
            ours,
            base,
            "-" if ratio is None else f"{ratio:.2f}x",
            self.target,
            met,
        ]


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def markdown(rows: list[Row]) -> str:
    head = ["figure", "lrchain", "baseline", "ratio", "target", "met?"]
    cells = [head] + [row.cells() for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(head))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |"
        for line in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def machine(threads: int, default: int) -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        names = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"
    return (
        f"{cpu}, {os.cpu_count()} cores{gpu}; Python {platform.python_version()}, torch"
        f" {torch.__version__}, {threads} intra-op thread(s) (torch's default here: {default});"
        f" load average {load}"
    )


# ---- subprocesses: train.py and the plain script in throw-away launch folders ----------------


def clean_env(threads: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "LRCHAIN_"))}
    return env | {"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": str(threads)}


@functools.cache
def empty_store() -> Path:
    """An empty SQLite store with MLflow's tables, made once: copies skip the schema set-up."""
    from mlflow import MlflowClient

    folder = Path(tempfile.mkdtemp(prefix="lrchain-bench-store-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    MlflowClient(f"sqlite:///{folder}/mlflow.db").search_experiments()
    return folder / "mlflow.db"


@contextlib.contextmanager
def launch_folder(store: bool = True) -> Iterator[Path]:
    """A temporary folder with conf/ and train.py linked in, and an empty store (or none).

    Users run many sweeps into one store, so the sweeps start from an existing, empty one; a
    store's first creation (MLflow's schema migrations, 2-6 s here) is measured on its own.
    """
    with tempfile.TemporaryDirectory(prefix="lrchain-bench-") as tmp:
        (Path(tmp) / "conf").symlink_to(ROOT / "conf")
        (Path(tmp) / "train.py").symlink_to(ROOT / "train.py")
        if store:
            shutil.copy(empty_store(), Path(tmp) / "mlflow.db")
        yield Path(tmp)


def timed_run(args: list[str], folder: Path, threads: int) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, *args], cwd=folder, env=clean_env(threads), capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}")
    return seconds


def epoch_seconds(folder: Path) -> float:
    """The training time the runs of `folder`'s store report: the sum of their epoch_seconds."""
    with contextlib.closing(sqlite3.connect(folder / "mlflow.db")) as db:
        (total,) = db.execute("SELECT SUM(value) FROM metrics WHERE key='epoch_seconds'").fetchone()
    return total or 0.0


def sweep(overrides: list[str], threads: int) -> tuple[float, float]:
    """Wall time of `train.py -m OVERRIDES` in a fresh folder, and its runs' training time."""
    with launch_folder() as folder:
        return timed_run(["train.py", "-m", *overrides], folder, threads), epoch_seconds(folder)


def plain(scheds: str, seeds: str, epochs: int, threads: int) -> tuple[float, float]:
    """Wall time of benchmarks/plain_sweep.py in a fresh folder, and its runs' training time."""
    with launch_folder() as folder:
        args = [str(ROOT / "benchmarks" / "plain_sweep.py"), "--uri", "sqlite:///mlflow.db"]
        args += ["--scheds", scheds, "--seeds", seeds, "--epochs", str(epochs)]
        return timed_run(args, folder, threads), epoch_seconds(folder)


def first_epoch(threads: int, store: bool) -> float:
    """Seconds from launching `train.py trainer.epochs=1` to its first epoch line."""
    with launch_folder(store) as folder:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "train.py", "trainer.epochs=1"],
            cwd=folder,
            env=clean_env(threads),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        seconds = None
        for line in proc.stdout:  # type: ignore[union-attr]
            if seconds is None and " epoch 1/1 " in line:
                seconds = time.perf_counter() - start
        if proc.wait() != 0 or seconds is None:
            raise RuntimeError("train.py trainer.epochs=1 failed or printed no epoch line")
        return seconds


def help_imports(threads: int) -> list[str]:
    """The heavy packages that `train.py --help` imports."""
    code = (
        "import runpy, sys\nsys.argv = ['train.py', '--help']\n"
        "try:\n    runpy.run_path('train.py', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        f"print('imported:' + ','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)"
    )
    with launch_folder() as folder:
        proc = subprocess.run(
            [sys.executable, "-c", code], cwd=folder, env=clean_env(threads), capture_output=True
        )
    found = [ln for ln in proc.stderr.decode().splitlines() if ln.startswith("imported:")]
    if not found:
        raise RuntimeError(f"train.py --help failed: {proc.stderr.decode()[-2000:]}")
    return [m for m in found[-1].removeprefix("imported:").split(",") if m]


# ---- in process: the engine against a plain loop -------------------------------------------


def settings() -> dict:
    """The default resolved config, as train.py sees it."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return OmegaConf.to_container(compose("config"), resolve=True)  # type: ignore[return-value]


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def throughput(cfg: dict, train, device, epochs: int, reps: int) -> tuple[Stat, Stat, float]:
    """Training images/s of lrchain's engine and of a DataLoader loop; FLOPs per image."""
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset
    from torch.utils.flop_counter import FlopCounterMode

    from lrchain.data import Split, steps_per_epoch
    from lrchain.engine import train_epoch
    from lrchain.models import build_model, build_optimizer
    from lrchain.schedules import build_schedule

    batch = cfg["trainer"]["batch_size"]
    spe = steps_per_epoch(len(train), batch)
    torch.manual_seed(0)
    first = build_model(cfg["model"], tuple(train.x.shape[1:]), 10)
    models = [first.to(device), copy.deepcopy(first).to(device)]
    optims = [build_optimizer(cfg["optim"], m.parameters()) for m in models]
    schedule = build_schedule(cfg["sched"], optims[0], (reps + 1) * epochs, spe)
    plain_sched = torch.optim.lr_scheduler.ExponentialLR(optims[1], gamma=0.9)
    split = Split(train.x.to(device), train.y.to(device))
    # As job.py trains: channels-last images; on CUDA also bfloat16 autocast (exact fp32 on CPU).
    amp = device.type == "cuda" and cfg["trainer"].get("precision", "auto") == "auto"
    extra = {"amp": True} if amp else {}
    models[0] = models[0].to(memory_format=torch.channels_last)  # as job.py does
    split.x = split.x.contiguous(memory_format=torch.channels_last)
    generator = torch.Generator().manual_seed(0)
    loader = DataLoader(TensorDataset(train.x.cpu(), train.y.cpu()), batch, shuffle=True)

    def engine_epoch() -> None:
        loss, _ = train_epoch(models[0], split, optims[0], schedule, batch, generator, **extra)
        schedule.on_epoch_end({"train/loss": loss.item()})

    def plain_epoch() -> None:
        models[1].train()
        total = 0.0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            optims[1].zero_grad()
            loss = F.cross_entropy(models[1](x), y)
            loss.backward()
            optims[1].step()
            total += loss.item() * len(y)
        plain_sched.step()

    results: list[list[float]] = [[], []]
    for rep in range(reps + 1):  # the first round warms up and is not counted
        for i, epoch in enumerate((engine_epoch, plain_epoch)):
            sync(device)
            start = time.perf_counter()
            for _ in range(epochs):
                epoch()
            sync(device)
            if rep:
                results[i].append(epochs * len(train) / (time.perf_counter() - start))
    x, y = split.x[:batch], split.y[:batch]
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(models[0](x), y).backward()
    return Stat(results[0]), Stat(results[1]), counter.get_total_flops() / len(x)


def matmul_rate(device, reps: int, n: int = 2048) -> Stat:
    """fp32 GFLOP/s of one big torch.mm."""
    import torch

    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    torch.mm(a, b)
    rates = []
    for _ in range(reps):
        sync(device)
        start = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        rates.append(2 * n**3 / (time.perf_counter() - start) / 1e9)
    return Stat(rates)


class Stopwatch:
    """Adds up the seconds this thread spends inside the functions it wraps, nested calls once.

    Calls from other threads (a background logger) are not counted: they do not hold up
    training, though they share its CPU, which the wall time with tracking on shows.
    """

    def __init__(self) -> None:
        self.seconds, self.depth, self.thread = 0.0, 0, threading.get_ident()

    def wrap(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            if threading.get_ident() != self.thread:
                return fn(*args, **kwargs)
            self.depth += 1
            mark = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.depth -= 1
                if not self.depth:
                    self.seconds += time.perf_counter() - mark

        return timed


@contextlib.contextmanager
def timing_tracking(watch: Stopwatch) -> Iterator[None]:
    """Every MlflowClient method and lrchain's checkpoint writer, timed by `watch`."""
    from mlflow import MlflowClient

    targets: list[tuple[object, str]] = [
        (MlflowClient, name)
        for name, fn in vars(MlflowClient).items()
        if callable(fn) and (not name.startswith("_") or name == "__init__")
    ]
    with contextlib.suppress(ImportError):
        from lrchain import checkpoint

        targets += [(checkpoint, n) for n in ("store", "save_atomic") if hasattr(checkpoint, n)]
    saved = [(owner, name, getattr(owner, name)) for owner, name in targets]
    for owner, name, fn in saved:
        setattr(owner, name, watch.wrap(fn))
    try:
        yield
    finally:
        for owner, name, fn in saved:
            setattr(owner, name, fn)


def tracked_run(cfg: dict, folder: Path) -> tuple[float, float]:
    """One run through lrchain's own job code into a fresh store in `folder`.

    Returns its wall time and the seconds spent in MLflow calls and checkpoint writes. Opening
    the store is not counted: a sweep does it once, before its jobs.
    """
    from lrchain import job, tracking

    shutil.copy(empty_store(), folder / "mlflow.db")
    uri = f"sqlite:///{folder}/mlflow.db"
    tracking.open_experiment(uri, cfg["tracking"]["experiment"], folder)
    settings = copy.deepcopy(cfg)
    settings["tracking"]["uri"] = uri
    launch = job.Launch(launch_dir=folder, output_dir=folder / "job")
    watch = Stopwatch()
    with timing_tracking(watch), contextlib.redirect_stdout(io.StringIO()):
        start = time.perf_counter()
        job.train(settings, launch)
        wall = time.perf_counter() - start
    return wall, watch.seconds


def untracked_run(cfg: dict, device) -> float:
    """The same run as job.py trains it on the CPU, with nothing logged: its wall time."""
    import torch

    from lrchain import engine
    from lrchain.data import load_data, steps_per_epoch
    from lrchain.models import build_model, build_optimizer
    from lrchain.schedules import build_schedule, expected_lrs

    epochs, batch = cfg["trainer"]["epochs"], cfg["trainer"]["batch_size"]
    start = time.perf_counter()
    torch.manual_seed(cfg["seed"])
    data = load_data(cfg["data"], cfg["seed"], device)
    model = build_model(cfg["model"], data.shape, data.num_classes).to(device)
    model = model.to(memory_format=torch.channels_last)  # as job.py does
    data.channels_last()
    optimizer = build_optimizer(cfg["optim"], model.parameters())
    spe = steps_per_epoch(len(data.train), batch)
    schedule = build_schedule(cfg["sched"], optimizer, epochs, spe)
    expected_lrs(cfg["sched"], build_optimizer(cfg["optim"], [torch.zeros(0)]), epochs, spe)
    generator = torch.Generator().manual_seed(cfg["seed"])
    engine.fit(model, data, optimizer, schedule, epochs, batch, generator, lambda *a: None)
    return time.perf_counter() - start


def logging_cost(cfg: dict, device, epochs: int, reps: int) -> tuple[Stat, Stat, Stat]:
    """Wall time of a default run with tracking on and off, and the tracking calls' share (%)."""
    cfg = copy.deepcopy(cfg)
    cfg["trainer"]["epochs"] = 1
    with tempfile.TemporaryDirectory(prefix="lrchain-bench-") as tmp:  # first-time imports
        tracked_run(cfg, Path(tmp))
    cfg["trainer"]["epochs"] = epochs
    on, off, share = [], [], []
    for _ in range(reps):
        with tempfile.TemporaryDirectory(prefix="lrchain-bench-") as tmp:
            wall, spent = tracked_run(cfg, Path(tmp))
        on.append(wall)
        share.append(100 * spent / wall)
        off.append(untracked_run(cfg, device))
    return Stat(on), Stat(off), Stat(share)


# ---- lrchain compare on many runs -----------------------------------------------------------


def fake_sweep(folder: Path, runs: int, epochs: int = 20) -> str:
    """A store in `folder` with a parent run and `runs` children of `epochs` epochs each."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    shutil.copy(empty_store(), folder / "mlflow.db")
    client = MlflowClient(f"sqlite:///{folder}/mlflow.db")
    experiment_id = client.create_experiment("lrchain")
    parent = client.create_run(experiment_id, run_name="sweep", tags={"lrchain.sweep": "true"})
    parent_id = parent.info.run_id
    scheds = ("step", "exp", "chain")
    for i in range(runs):
        sched = scheds[i % 3]
        tags = {"mlflow.parentRunId": parent_id, "lrchain.sched": sched}
        run_id = client.create_run(
            experiment_id, run_name=f"{sched},seed={i}", tags=tags
        ).info.run_id
        now = int(time.time() * 1000)
        values = []
        for e in range(epochs):
            lr, loss = 0.1 * 0.9**e, 2.0 / (e + 1 + i % 7)
            for key, value in (("lr", lr), ("train/loss", loss), ("val/loss", loss * 1.1)):
                values.append(Metric(key, value, now, e))
            values += [
                Metric("val/acc", 1 - loss / 3, now, e),
                Metric("epoch_seconds", 0.2, now, e),
            ]
        params = [Param("sched.name", sched), Param("seed", str(i))]
        client.log_batch(run_id, metrics=values, params=params)
        client.set_terminated(run_id, "FINISHED")
    client.set_terminated(parent_id, "FINISHED")
    return parent_id


def compare_time(runs: int, reps: int, threads: int) -> Stat | str:
    """Seconds of `python -m lrchain compare PARENT` on a sweep of `runs` runs; or why n/a."""
    try:
        from lrchain.cli import COMMANDS

        if "compare" not in COMMANDS:
            return "(no compare command)"
    except Exception as err:  # the command is being written: its absence is a result here
        return f"({type(err).__name__})"
    with tempfile.TemporaryDirectory(prefix="lrchain-bench-") as tmp:
        parent_id = fake_sweep(Path(tmp), runs)
        args = ["-m", "lrchain", "compare", parent_id, "--out", f"{tmp}/out"]
        args += ["--tracking-uri", f"sqlite:///{tmp}/mlflow.db"]
        try:
            return Stat([timed_run(args, Path(tmp), threads) for _ in range(reps)])
        except RuntimeError as err:
            log(str(err))
            return "(compare failed)"


# ---- the table -------------------------------------------------------------------------------


@dataclass
class Plan:
    """How much to repeat, and where to train."""

    reps: int  # repetitions of the quick figures
    sweep_reps: int  # repetitions of the sweep figures
    epochs: int  # of the default sweep and of the logged run
    threads: int
    device: object
    cfg: dict


def engine_rows(plan: Plan) -> list[Row]:
    import torch

    from lrchain.data import Split, load_data

    cfg, device = plan.cfg, plan.device
    digits = load_data(cfg["data"], cfg["seed"], torch.device("cpu")).train
    generator = torch.Generator().manual_seed(0)
    cifar = Split(torch.randn(2048, 3, 32, 32, generator=generator), torch.arange(2048) % 10)
    gflops = matmul_rate(device, plan.reps)
    rows, found = [], {}
    for name, train, epochs in (("digits 1x8x8", digits, 3), ("random 3x32x32", cifar, 1)):
        ours, base, flops = throughput(cfg, train, device, epochs, max(1, plan.reps - 2))
        found[name] = (ours, base, flops)
        target, met = ("-", None)
        if name.startswith("digits"):
            target, met = (">= 1.3x", lambda o, r: r >= 1.3)
        elif device.type == "cuda":
            target, met = (">= 3x", lambda o, r: r >= 3)
        rows.append(Row(f"train images/s, {name}, batch 64", ours, base, ",.0f", target, met))
    rows.append(Row(f"fp32 matmul rate, torch.mm 2048^2 (GFLOP/s, {device.type})", gflops))
    for name, (ours, base, flops) in found.items():
        shares = [
            Stat([100 * x * flops / 1e9 / gflops.median for x in s.samples]) for s in (ours, base)
        ]
        figure = f"share of matmul rate in training, {name}, {flops / 1e6:.1f} MFLOP/img (%)"
        rows.append(Row(figure, *shares, fmt=".1f"))
    return rows


def logging_rows(plan: Plan) -> list[Row]:
    on, off, share = logging_cost(plan.cfg, plan.device, plan.epochs, max(2, plan.reps - 2))
    figure = f"one run, {plan.epochs} epochs, tracking on vs off (s)"
    return [
        Row(figure, on, off, target="<= 1.03x", met=lambda o, r: r <= 1.03),
        Row(
            "MLflow calls + checkpoint writes, share of it (%)",
            share,
            fmt=".1f",
            target="<= 3%",
            met=lambda o, r: o <= 3,
        ),
    ]


def startup_rows(plan: Plan) -> list[Row]:
    with launch_folder() as folder:
        helps = [timed_run(["train.py", "--help"], folder, plan.threads) for _ in range(plan.reps)]
    heavy = help_imports(plan.threads)
    reps = max(2, plan.reps - 2)
    fresh = [first_epoch(plan.threads, store=False) for _ in range(reps)]
    existing = [first_epoch(plan.threads, store=True) for _ in range(reps)]
    return [
        Row("python train.py --help (s)", Stat(helps), target="< 1.5 s", met=lambda o, r: o < 1.5),
        Row(
            "heavy imports at --help",
            None,
            text=", ".join(heavy) or "none",
            target="none",
            ok=not heavy,
        ),
        Row("launch to first epoch line, new store (s)", Stat(fresh)),
        Row("launch to first epoch line, existing store (s)", Stat(existing)),
    ]


def sweep_rows(plan: Plan) -> list[Row]:
    """The default sweep end to end, split into its epochs (train + eval) and everything else."""
    ours, base = [], []
    for _ in range(plan.sweep_reps):
        ours.append(sweep(["sched=step,exp,chain", f"trainer.epochs={plan.epochs}"], plan.threads))
        base.append(plain("step,exp,chain", "0", plan.epochs, plan.threads))
    figure = f"default sweep, 3 jobs x {plan.epochs} epochs, end to end (s)"
    walls = Stat([w for w, _ in ours]), Stat([w for w, _ in base])
    epochs = Stat([t for _, t in ours]), Stat([t for _, t in base])
    rest = Stat([w - t for w, t in ours]), Stat([w - t for w, t in base])
    return [
        Row(figure, *walls, target="<= 0.6x", met=lambda o, r: r <= 0.6),
        Row("  of which epochs: train + eval, sum of epoch_seconds (s)", *epochs),
        Row("  of which the rest: start-up, store, set-up, logging, comparison, exit (s)", *rest),
    ]


def growth_rows(plan: Plan) -> list[Row]:
    """Sweeps of 3, 12 and 48 one-epoch jobs; per-job overhead = extra wall less extra training."""
    sizes = {3: "0", 12: "0,1,2,3", 48: ",".join(str(s) for s in range(16))}
    walls: dict[int, list[list[float]]] = {n: [[], []] for n in sizes}
    overheads: list[list[float]] = [[], []]
    for _ in range(plan.sweep_reps):
        got = {}
        for n, seeds in sizes.items():
            overrides = ["sched=step,exp,chain", f"seed={seeds}", "trainer.epochs=1"]
            got[n] = (
                sweep(overrides, plan.threads),
                plain("step,exp,chain", seeds, 1, plan.threads),
            )
            for i in (0, 1):
                walls[n][i].append(got[n][i][0])
        for i in (0, 1):
            (wall3, train3), (wall48, train48) = got[3][i], got[48][i]
            overheads[i].append((wall48 - wall3 - (train48 - train3)) / 45)
    rows = [
        Row(f"sweep of {n} one-epoch jobs, wall (s)", Stat(a), Stat(b))
        for n, (a, b) in walls.items()
    ]
    figure = "per-job overhead after the first job (s)"
    rows.append(Row(figure, *map(Stat, overheads), target="< 0.3 s", met=lambda o, r: o < 0.3))
    return rows


def compare_rows(plan: Plan) -> list[Row]:
    rows = []
    for runs in (50, 500):
        result = compare_time(runs, max(1, plan.sweep_reps), plan.threads)
        row = Row(f"lrchain compare, {runs} runs x 20 epochs (s)", None)
        if isinstance(result, Stat):
            row.ours = result
        else:
            row.text = f"n/a {result}"
        if runs == 500:
            row.target, row.met = "< 10 s", lambda o, r: o < 10
        rows.append(row)
    return rows


SECTIONS = {
    "engine": ("throughput and FLOP share: digits and a CIFAR-10-shaped set", engine_rows),
    "logging": ("logging: a default run with tracking on and off", logging_rows),
    "startup": ("start-up: --help, first epoch", startup_rows),
    "sweep": ("default sweep: lrchain and the plain script", sweep_rows),
    "growth": ("growth: sweeps of 3, 12 and 48 one-epoch jobs", growth_rows),
    "compare": ("lrchain compare on 50 and 500 runs", compare_rows),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and epochs")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="intra-op threads of every measurement (default 1; 0: torch's own default)",
    )
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="measure only these sections")
    args = parser.parse_args()
    import torch

    default_threads = torch.get_num_threads()
    threads = args.threads or default_threads
    torch.set_num_threads(threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    started, before = time.perf_counter(), machine(threads, default_threads)
    cfg = settings()
    if cfg["trainer"]["deterministic"]:  # as train.py runs by default, for both sides
        torch.use_deterministic_algorithms(True, warn_only=True)
    reps, sweep_reps, epochs = (3, 1, 5) if args.quick else (5, 2, 20)
    plan = Plan(reps, sweep_reps, epochs, threads, device, cfg)
    rows: list[Row] = []
    for key in args.only or SECTIONS:
        title, measure = SECTIONS[key]
        log(f"{title} ({time.perf_counter() - started:.0f} s so far)")
        try:
            rows += measure(plan)
        except Exception as err:  # one broken section must not cost the others' figures
            log(f"{key} failed: {err!r}")
            rows.append(Row(key, None, text=f"n/a ({type(err).__name__}, see stderr)"))

    print(f"\nMachine: {before}")
    print(f"Load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
    print(markdown(rows))
    print(
        "\nbaseline: DataLoader(TensorDataset) + loss.item() per batch (throughput), the same run"
        " untracked (tracking), benchmarks/plain_sweep.py (sweeps). median (min-max, n)."
    )
    print(f"bench took {time.perf_counter() - started:.0f} s{' (--quick)' if args.quick else ''}")


if __name__ == "__main__":
    main()
