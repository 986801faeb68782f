"""A sweep's jobs in forked copies of the launching process, several at once: the default launcher.

A digits job's epochs gain little from a second thread (2 threads: 1.15-1.2x one), while two
jobs side by side, one thread each, keep both cores busy. Jobs in fresh processes (joblib's
workers) each import torch, torch._dynamo, MLflow and its SQL store first: ~5 s of CPU apiece,
more than a 20-epoch job trains. Here the launching process imports all of that once
(lrchain.workers.load_here), composes each job's config, and forks one process per job, which
starts with everything loaded. Measured on 2 cores: the epochs of the default sweep (3 jobs x 20)
took 6.8-7.3 s forked 3 at once against 11.7-14.2 s one after another on 2 threads.

How many at once (`hydra.launcher.n_jobs=auto`): the jobs of a batch in as few rounds as keep
every core this process may use busy, spread evenly over them (`at_once`); each job trains on
the cores divided by the jobs at once (trainer.threads=auto), at least one thread. Jobs run one
after another, in this process as Hydra's basic launcher runs them, where forking is not safe or
not worth it: one job at a time, a job on a GPU (CUDA cannot be used across a fork), a system
other than Linux, a process that started threads since it loaded torch (once torch computed here,
OpenMP's workers exist, and a forked job using two threads or more would wait on them forever).

Signals: each job has a process group of its own, so Ctrl-C at the terminal reaches this process
only, and it hands each signal it gets (SIGINT, SIGTERM) to every running job once: the first
ends their runs KILLED with a checkpoint (lrchain.failures), a second ends them at once, as in a
single run; no new job starts after a signal. A job whose process dies (killed, out of memory)
is a failed job of the sweep, its run ended KILLED for `lrchain resume`; the other jobs go on.
If this process is killed outright, each job gets SIGTERM (Linux's parent-death signal) and ends
KILLED.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lrchain.cores import usable_cores
from lrchain.errors import ConfigError


def at_once(jobs: int, cores: int) -> int:
    """How many of `jobs` equal jobs run at once on `cores`: as few rounds as keep every core
    busy (jobs // cores, at least one), the jobs spread evenly over them. 3 jobs on 2 cores run
    all 3 at once (taking turns) rather than 2, then 1 alone beside an idle core; 4 run 2 by 2."""
    rounds = max(1, jobs // max(1, cores))
    return max(1, -(-jobs // rounds))


def jobs_at_once(n_jobs: Any, jobs: int, cores: int) -> int:
    """`hydra.launcher.n_jobs` (auto, or at most N at once) for a batch of `jobs`."""
    if str(n_jobs) == "auto":
        return at_once(jobs, cores)
    if isinstance(n_jobs, bool) or not str(n_jobs).isdigit() or int(n_jobs) < 1:
        raise ConfigError(f"hydra.launcher.n_jobs: got {n_jobs!r}; allowed: auto or a number >= 1")
    return min(int(n_jobs), jobs)


_loaded: dict[str, set[str]] = {}  # the threads this process had once the jobs' modules loaded


def loaded() -> None:
    """Called once this process has imported what its jobs import (lrchain.workers.load_here):
    the threads it has now (torch's and a memory allocator's) are the ones a fork tolerates."""
    _loaded["threads"] = _threads()


def _threads() -> set[str]:
    try:
        return set(os.listdir("/proc/self/task"))
    except OSError:
        return set()


def why_one_at_a_time(configs: Sequence[Any]) -> str | None:
    """Why the jobs of `configs` cannot be forked side by side; None when they can."""
    import threading

    if sys.platform != "linux":
        return f"forking a process that loaded torch is safe on Linux only (this is {sys.platform})"
    if threading.current_thread() is not threading.main_thread():  # signals reach it only
        return "jobs launched from a thread other than the main one run one at a time"
    if _threads() - _loaded.get("threads", _threads()):
        # OpenMP's worker threads, once torch computed something here, make a forked job that
        # uses two threads or more wait for them forever; other threads may hold locks.
        return "this process started threads since it loaded torch: its jobs run one at a time"
    devices = {str(config.trainer.device) for config in configs}
    if devices - {"cpu", "auto"}:
        return "jobs on a GPU run one at a time (CUDA cannot be used across a fork)"
    if "auto" in devices:
        import torch

        if torch.cuda.device_count() > 0:  # NVML's count: CUDA itself stays untouched here
            return "jobs on a GPU run one at a time (CUDA cannot be used across a fork)"
    return None


def launch(launcher: Any, job_overrides: Sequence[Sequence[str]], first: int) -> list[Any]:
    """Run a batch of jobs for `launcher` (lrchain's Hydra launcher); their JobReturns in order."""
    import logging

    from hydra.core.utils import configure_log, filter_overrides, setup_globals
    from omegaconf import open_dict

    setup_globals()
    config = launcher.config
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    log = logging.getLogger("hydra")
    Path(str(config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    configs = []
    for idx, overrides in enumerate(job_overrides, start=first):
        composed = launcher.hydra_context.config_loader.load_sweep_config(config, list(overrides))
        with open_dict(composed):
            composed.hydra.job.id = composed.hydra.job.num = idx
        configs.append(composed)
    cores = usable_cores()
    try:
        k = jobs_at_once(launcher.n_jobs, len(configs), cores)
    except ConfigError as err:
        raise SystemExit(f"lrchain: {err}") from None
    reason = why_one_at_a_time(configs) if k > 1 else None
    if reason:
        print(f"[lrchain] {reason}", flush=True)
        k = 1
    for composed in configs:  # what each job's threads are sized by (lrchain.job.jobs_at_once)
        with open_dict(composed):
            composed.hydra.launcher.n_jobs = k
    at = f", {k} at a time on {cores} core(s)" if k > 1 else ""
    log.info(f"Launching {len(configs)} jobs locally{at}")
    shown = {id(c): " ".join(filter_overrides(c.hydra.overrides.task)) for c in configs}
    if k == 1:
        return [_here(launcher, c, log, shown[id(c)]) for c in configs]
    return _forked(launcher, configs, k, log, shown)


def _run(launcher: Any, config: Any) -> Any:
    """One job of the sweep, here, as Hydra's basic launcher runs it: its JobReturn."""
    from hydra.core.utils import run_job

    return run_job(
        hydra_context=launcher.hydra_context,
        task_function=launcher.task_function,
        config=config,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )


def _here(launcher: Any, config: Any, log: Any, shown: str) -> Any:
    """One job in this process, then Hydra's own logging set up again for the next."""
    from hydra.core.utils import configure_log

    log.info(f"\t#{config.hydra.job.num} : {shown}")
    ret = _run(launcher, config)
    configure_log(launcher.config.hydra.hydra_logging, launcher.config.hydra.verbose)
    return ret


class _Jobs:
    """The forked jobs running now, and the signals this process passed on to them."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.running: dict[Any, tuple[Any, Any]] = {}  # result pipe -> (process, config)
        self.signals: list[int] = []  # passed on to every job running when each came
        self.missed: int | None = None  # in a job: a signal that came before its own handlers

    def forward(self, signum: int, frame: Any) -> None:
        if os.getpid() != self.pid:  # in a job, before its first lines: it takes it up then
            self.missed = signum
            return
        self.signals.append(signum)
        for process, _ in list(self.running.values()):
            _tell(process, signum)


def _tell(process: Any, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it has just ended
        os.kill(process.pid, signum)


def _forked(launcher: Any, configs: list[Any], k: int, log: Any, shown: dict[int, str]) -> list:
    """Each job in a forked process, `k` at a time; results in the order of `configs`."""
    import multiprocessing
    from multiprocessing.connection import wait

    from lrchain import store

    context = multiprocessing.get_context("fork")
    jobs = _Jobs()
    results: dict[int, Any] = {}
    waiting = list(configs)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    launch_dir = Path(launcher.config.hydra.runtime.cwd)
    for uri in {store.resolve_uri(c.tracking.uri, launch_dir) for c in configs}:
        store.release_connections(uri)  # no job may share this process's database connections
    for sig in handlers:
        signal.signal(sig, jobs.forward)
    try:
        while jobs.running or (waiting and not jobs.signals):
            while waiting and not jobs.signals and len(jobs.running) < k:
                config = waiting.pop(0)
                log.info(f"\t#{config.hydra.job.num} : {shown[id(config)]}")
                reader, writer = context.Pipe(duplex=False)
                process = context.Process(
                    target=_job,
                    args=(launcher, config, writer, handlers, jobs),
                    name=f"lrchain-job-{config.hydra.job.num}",
                )
                came = len(jobs.signals)
                process.start()
                writer.close()  # only the job holds it: its end wakes the reader, result or not
                with contextlib.suppress(OSError):  # the job does the same: no window either way
                    os.setpgid(process.pid, process.pid)
                jobs.running[reader] = (process, config)
                for signum in jobs.signals[came:]:  # came while it was being forked
                    _tell(process, signum)
            for reader in wait(list(jobs.running)):
                process, config = jobs.running.pop(reader)
                results[config.hydra.job.num] = _result(reader, process, config)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    if jobs.signals:
        raise SystemExit(130)  # as a job interrupted in this process ends the sweep
    return [results[config.hydra.job.num] for config in configs]


def _job(launcher: Any, config: Any, writer: Any, handlers: dict, jobs: _Jobs) -> None:
    """In the forked process: run the job, send its JobReturn, end (no exit handlers)."""
    import pickle

    os.setpgid(0, 0)  # first: the terminal's signals now reach the launching process only
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
    _die_with(jobs.pid)
    if jobs.missed is not None:
        os.kill(os.getpid(), jobs.missed)
    code = 0
    try:
        ret = _run(launcher, config)
        try:
            writer.send(ret)
        except (pickle.PicklingError, TypeError, AttributeError):  # an exception pickle refuses
            error = ret._return_value
            ret.return_value = RuntimeError(f"{type(error).__name__}: {error}")
            writer.send(ret)
    except SystemExit as stop:  # an interrupted run (130) ends its job here; lrchain said why
        code = stop.code if isinstance(stop.code, int) else 1
        if isinstance(stop.code, str):
            print(stop.code, file=sys.stderr)
    except KeyboardInterrupt:
        code = 130
    finally:
        import logging

        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _die_with(parent: int) -> None:
    """This job gets SIGTERM, and ends KILLED, if the launching process dies without telling it."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        return
    if os.getppid() != parent:  # it died before the line above
        os.kill(os.getpid(), signal.SIGTERM)


def _result(reader: Any, process: Any, config: Any) -> Any:
    """The JobReturn a forked job sent; for one that died first, a failed job of the sweep."""
    import pickle

    try:
        ret = reader.recv()
    except (EOFError, OSError, pickle.UnpicklingError):  # it died first, or mid-way through
        ret = None
    reader.close()
    process.join()
    if ret is not None:
        return ret
    return _died(process.exitcode, config)


def _died(exitcode: int | None, config: Any) -> Any:
    """A job whose process ended without its result: its run KILLED, the failure recorded for
    the sweep's end (lrchain.sweep), and a JobReturn that lets the other jobs go on."""
    from hydra.core.utils import JobReturn, JobStatus
    from omegaconf import OmegaConf

    from lrchain.spool import FOLDER, RunLog
    from lrchain.sweep import FAILURE_FILE

    overrides = list(config.hydra.overrides.task)
    ended = JobReturn(overrides=overrides, status=JobStatus.COMPLETED)  # returned None
    if exitcode == 130:  # interrupted: its run ended KILLED and it said so
        return ended
    if exitcode is not None and exitcode < 0:
        how = f"signal {-exitcode} ({signal.Signals(-exitcode).name})"
    else:
        how = f"exit code {exitcode}"
    job = ",".join(overrides) or str(config.hydra.job.num)
    sweep = OmegaConf.select(config, "hydra.sweep")
    output = Path(str(sweep.dir)) / str(sweep.subdir)
    message = f"its process ended with {how} before the job returned"
    if (output / FOLDER / "run.json").exists():
        run_id = json.loads((output / FOLDER / "run.json").read_text())["run_id"]
        try:
            log = RunLog.reopen(output / FOLDER)
            if log.client.get_run(run_id).info.status == "RUNNING":  # not one it ended itself
                log.end("KILLED")
        except Exception:  # the store does not answer: the run stays RUNNING until resumed
            pass
        message += f"; continue its run with `lrchain resume {run_id}`"
    print(f"[lrchain] job {job} failed: {message}", file=sys.stderr, flush=True)
    output.mkdir(parents=True, exist_ok=True)
    (output / FAILURE_FILE).write_text(f"{job}\n{message}\n")
    return ended
