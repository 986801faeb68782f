"""Section `launchers`: the same 8-job sweep on each launcher, and against a team server.

basic (one job at a time), lrchain's parallel (the default), joblib and submitit_local (2 at a
time: this machine's cores), each into the launch folder's SQLite store; then submitit_local
logging to `mlflow server` on a throw-away PostgreSQL (tests/servers.py starts both on
127.0.0.1). Every job trains 1 epoch with 1 thread, so that only the launcher and the store
differ. Per-job overhead is the job-seconds a sweep spends not training, per job: (wall x jobs
at once - sum of epoch_seconds) / 8.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from harness import ROOT, Plan, Row, Stat, launch_folder, timed_run
from sweeps import epoch_seconds

TITLE = "launchers: one 8-job sweep on basic, parallel, joblib, submitit_local, and a server"
JOBS = ["sched=step,exp", "seed=0,1,2,3", "trainer.epochs=1", "trainer.threads=1"]
AT_ONCE = 2
LAUNCHERS = {  # name: (overrides, jobs at once)
    "basic launcher": (["hydra/launcher=basic"], 1),
    "parallel (lrchain's default)": ([f"hydra.launcher.n_jobs={AT_ONCE}"], AT_ONCE),
    "joblib": (["hydra/launcher=joblib", f"hydra.launcher.n_jobs={AT_ONCE}"], AT_ONCE),
    "submitit_local": (
        ["hydra/launcher=submitit_local", f"hydra.sweeper.max_batch_size={AT_ONCE}"],
        AT_ONCE,
    ),
}


@contextlib.contextmanager
def team_server() -> Iterator[str]:
    """`mlflow server` on a throw-away PostgreSQL, as the README's team set-up; its URI."""
    sys.path.insert(0, str(ROOT / "tests"))
    from servers import Postgres, TrackingServer, free_port, postgres_bin

    if postgres_bin() is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    database = Postgres.create()
    server = None
    try:
        database.start()
        server = TrackingServer(database.folder / "server", database.uri(), free_port())
        server.folder.mkdir()
        server.start()
        yield server.uri
    finally:
        if server is not None:
            server.stop()
        database.stop()


def server_epoch_seconds(uri: str, experiment: str) -> float:
    """The sum of the epoch_seconds the runs of `experiment` logged to the server at `uri`."""
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id]) if found else []
    return sum(run.data.metrics.get("epoch_seconds", 0.0) for run in runs)


def sweep(overrides: list[str], plan: Plan, uri: str | None = None) -> tuple[float, float]:
    """Wall seconds of one 8-job sweep in a fresh launch folder, and its runs' training seconds."""
    with launch_folder(store=uri is None) as folder:
        args = ["train.py", "-m", *JOBS, *overrides]
        if uri is None:
            return timed_run(args, folder, plan.threads), epoch_seconds(folder)
        experiment = folder.name  # a new experiment on the server for each sweep
        args += [f"tracking.uri={uri}", f"tracking.experiment={experiment}"]
        return timed_run(args, folder, plan.threads), server_epoch_seconds(uri, experiment)


def rows(plan: Plan) -> list[Row]:
    """Wall time and per-job overhead of the same sweep, launcher by launcher."""
    got: dict[str, list[tuple[float, float]]] = {name: [] for name in LAUNCHERS}
    for _ in range(plan.sweep_reps):  # alternated, so that the machine's load hits all alike
        for name, (overrides, _) in LAUNCHERS.items():
            got[name].append(sweep(overrides, plan))
    served = "submitit_local, server on PostgreSQL"
    got[served] = []
    with team_server() as uri:
        for _ in range(plan.sweep_reps):
            got[served].append(sweep(LAUNCHERS["submitit_local"][0], plan, uri))
    table = []
    for name, runs in got.items():
        at_once = LAUNCHERS.get(name, LAUNCHERS["submitit_local"])[1]
        store = "" if name == served else ", SQLite"
        table.append(Row(f"8 jobs x 1 epoch, {name}{store}: wall (s)", Stat([w for w, _ in runs])))
        overhead = Stat([(wall * at_once - trained) / 8 for wall, trained in runs])
        table.append(Row("  per-job overhead: job-seconds not training, per job (s)", overhead))
    return table
