"""A sweep's jobs each in a process forked from the launching one, `k` at a time (lrchain.parallel
decides when and how many).

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
from pathlib import Path
from typing import Any


def run_one(launcher: Any, config: Any) -> Any:
    """One job of the sweep, here, as Hydra's basic launcher runs it: its JobReturn."""
    from hydra.core.utils import run_job

    return run_job(
        hydra_context=launcher.hydra_context,
        task_function=launcher.task_function,
        config=config,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )


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


def run(launcher: Any, configs: list[Any], k: int, log: Any, shown: dict[int, str]) -> list:
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
        ret = run_one(launcher, config)
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
