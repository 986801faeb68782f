"""Where a sweep's jobs will run, loaded while the sweep sets itself up.

A job's first ~5 s of CPU go to importing torch, torch._dynamo (every optimizer step needs it),
MLflow and its database store. The basic launcher runs the jobs in the launching process, and
lrchain's parallel launcher (the default) forks them from it: it imports them once the store is
open (`load_here`), while lrchain.collector keeps garbage collection paused.
`hydra/launcher=joblib` starts its worker processes only after the set-up (the store, the parent
run, every job's config), and each worker's first job then imported all of it while the
launching process waited: on 2 cores a 4-job sweep printed its first epoch 9-10 s after the
command started. Here the same workers are asked of joblib as the sweep starts
(`start`), on a background thread, and each imports what a job imports while this process opens
the store and composes the jobs' configs; a store that fails stops them (`stop`), so the error
comes at once. joblib's loky backend keeps a pool's workers for the next `Parallel` call with
the same settings (`idle_worker_timeout`, 300 s), so the launcher's own call finds them loaded.
Nothing else is done in them: no job, no store, no number changes (each job sets its threads,
trainer.threads). Other launchers (submitit, SLURM) start a fresh process per job, with nothing
to share: they are left as they are, and the launching process, which never trains, does not
load torch.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
import time
from typing import Any

from lrchain.compose_once import IN_THIS_PROCESS
from lrchain.cores import usable_cores

# What a job imports on its way to its first epoch (digits come from lrchain's cache).
JOB_MODULES = ("torch", "mlflow", "lrchain.job", "torch._dynamo")
TORCHVISION_MODULES = ("torchvision.datasets",)  # MNIST, Fashion-MNIST, CIFAR-10
SQL_STORE_MODULES = (  # MLflow's database store (SQLite, PostgreSQL): ~0.9 s
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.tracking.sqlalchemy_workspace_store",
    "alembic.command",
)


def start(config: Any, jobs: int) -> threading.Thread | None:
    """joblib's workers for the first `jobs` jobs of the sweep `config`: started, and loading
    what a job imports, on a background thread (returned). Its failure changes nothing (the
    launcher then starts its workers as it always did). Other launchers: nothing is done.
    """
    if not _launcher(config).endswith(".JoblibLauncher"):
        return None
    from omegaconf import OmegaConf

    launcher = OmegaConf.to_container(config.hydra.launcher, resolve=True)
    workers = _workers_at_once(launcher)
    note = crowding(min(jobs, workers), usable_cores())
    if note:
        print(f"[lrchain] {note}", flush=True)
    if workers < 2:
        return None
    thread = threading.Thread(
        target=_start_workers,
        args=(launcher, job_modules(config), min(jobs, workers)),  # no more than have work
        name="lrchain-workers",
        daemon=True,
    )
    thread.start()
    return thread


def stop(thread: threading.Thread | None) -> None:
    """End the workers `start` started (its `thread`), loading or idle: the sweep stops before
    any job. Returns once joblib has cleaned up after them (its temporary folder)."""
    import multiprocessing

    if thread is None:
        return

    try:
        from joblib.externals.loky.backend.process import LokyProcess
    except ImportError:  # no joblib: no worker was started
        return
    deadline = time.monotonic() + 10
    while thread.is_alive() and time.monotonic() < deadline:  # some may still be starting
        workers = [p for p in multiprocessing.active_children() if isinstance(p, LokyProcess)]
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.join(5)
        thread.join(0.2)  # joblib's call sees them end and cleans up, before this process exits


def load_here(config: Any) -> None:
    """Where the sweep's jobs run in this process or in processes forked from it (the basic
    launcher, lrchain's parallel one, joblib with one job at a time): import what they import,
    now."""
    target = _launcher(config)
    if target.endswith(".JoblibLauncher"):
        from omegaconf import OmegaConf

        launcher = OmegaConf.to_container(config.hydra.launcher, resolve=True)
        if _workers_at_once(launcher) > 1:
            return
    elif not target.endswith(IN_THIS_PROCESS):
        return
    for name in job_modules(config):  # train.py paused the collector; the sweep resumes it
        with contextlib.suppress(ImportError):  # the job names what is missing
            importlib.import_module(name)
    from lrchain import parallel

    parallel.loaded()  # what forking its jobs tolerates


def _launcher(config: Any) -> str:
    return str(config.hydra.launcher.get("_target_", ""))


def crowding(at_once: int, cores: int) -> str | None:
    """What to say when more jobs run at once than there are cores; None when they fit."""
    if at_once <= cores:
        return None
    return (
        f"{at_once} jobs at once on {cores} core(s): each trains on 1 thread and they take"
        f" turns, no faster than hydra.launcher.n_jobs={cores} (4 at once on 2 cores took 1.17x"
        " the sequential sweep's time, README: Performance)"
    )


def job_modules(config: Any) -> list[str]:
    """The modules a job of `config` imports: lrchain's, its data's and its store's libraries."""
    modules = list(JOB_MODULES)
    if str(config.data.name) != "digits":
        modules += TORCHVISION_MODULES
    if not str(config.tracking.uri).startswith(("http:", "https:", "databricks")):
        modules += SQL_STORE_MODULES
    return modules


def joblib_settings(launcher: dict[str, Any]) -> dict[str, Any]:
    """The arguments Hydra's joblib launcher gives `joblib.Parallel`, from its config: the same
    ones, so that joblib hands the launcher the workers started here."""
    from hydra_plugins.hydra_joblib_launcher._core import process_joblib_cfg

    settings = {key: value for key, value in launcher.items() if key != "_target_"}
    settings["backend"] = "loky"
    process_joblib_cfg(settings)  # text to numbers, as the launcher converts them
    return settings


def load(modules: list[str]) -> int:
    """In a worker: import `modules` with garbage collection paused, then resume it as a job does
    before it trains (lrchain.collector); this process's id.

    The worker ends promptly after the sweep (lrchain.exiting) even if no job comes its way.
    """
    from lrchain import collector, exiting

    exiting.install()  # before the imports: its exit handler runs after theirs
    collector.pause()
    for name in modules:
        importlib.import_module(name)
    collector.resume()
    exiting.succeeded()  # a job it runs later sets this again, around itself
    return os.getpid()


def _start_workers(launcher: dict[str, Any], modules: list[str], workers: int) -> None:
    try:
        from joblib import Parallel, delayed

        Parallel(**joblib_settings(launcher))(delayed(load)(modules) for _ in range(workers))
    except Exception:  # the launcher's own Parallel call starts its workers as it always did
        pass


def _workers_at_once(launcher: dict[str, Any]) -> int:
    """joblib's worker count for the launcher's `n_jobs` (negative: counted back from the cores);
    1 (jobs run in this process) where joblib would refuse it: the launcher then says why."""
    from joblib import effective_n_jobs

    try:
        return int(effective_n_jobs(launcher.get("n_jobs")))
    except Exception:
        return 1
