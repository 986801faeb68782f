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
The forked jobs themselves, their signals and a job that dies: lrchain.forking.
"""

from __future__ import annotations

import os
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
    from lrchain import forking

    return forking.run(launcher, configs, k, log, shown)


def _here(launcher: Any, config: Any, log: Any, shown: str) -> Any:
    """One job in this process, then Hydra's own logging set up again for the next."""
    from hydra.core.utils import configure_log

    from lrchain.forking import run_one

    log.info(f"\t#{config.hydra.job.num} : {shown}")
    ret = run_one(launcher, config)
    configure_log(launcher.config.hydra.hydra_logging, launcher.config.hydra.verbose)
    return ret
