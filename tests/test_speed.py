"""Speed without losing anything: threads that fit the machine, a prompt and clean exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import client_for, lrchain, newest_run_id, runs_of, train

from lrchain.build import resolve_threads, usable_cores
from lrchain.testing import clean_env


def test_auto_threads_share_the_cores_this_process_may_use_among_the_jobs_at_once():
    cores = usable_cores()
    assert resolve_threads("auto") == cores
    assert resolve_threads("auto", jobs_at_once=2) == max(1, cores // 2)
    assert resolve_threads("auto", jobs_at_once=10 * cores) == 1
    assert resolve_threads(3, jobs_at_once=8) == 3  # a number is taken as it is


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_auto_threads_follow_a_narrowed_cpu_set():
    allowed = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(allowed)})  # as `taskset -c 0` or a container's cpuset
        assert resolve_threads("auto") == 1
    finally:
        os.sched_setaffinity(0, allowed)


@pytest.mark.slow
def test_parallel_jobs_share_the_cores_and_record_their_threads(launch_dir):
    train(
        launch_dir,
        "-m",
        "seed=0,1",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=8",  # capped by the sweep's 2 jobs
        "trainer.epochs=1",
    )
    children = [r for r in runs_of(launch_dir) if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 2
    for run in children:
        assert run.data.params["trainer.threads"] == "auto"
        assert run.data.tags["lrchain.threads"] == str(max(1, usable_cores() // 2))


@pytest.mark.slow
def test_reproduce_uses_the_thread_count_the_run_recorded(launch_dir):
    train(launch_dir, "trainer.epochs=2", "trainer.threads=1")
    run_id = newest_run_id(client_for(launch_dir))
    done = lrchain(launch_dir, "reproduce", run_id)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "re-runs on 1 thread(s), as the run did" in done.stdout
    rerun = client_for(launch_dir).get_run(newest_run_id(client_for(launch_dir)))
    assert rerun.data.tags["lrchain.threads"] == "1"


EXITS = """
import atexit, sys, threading, time
from pathlib import Path
from lrchain import exiting
exiting.install()
marks = Path(sys.argv[1])
def slow_writer():
    time.sleep(0.3)
    (marks / "thread").write_text("joined")
class TornDown:
    def __del__(self):
        (marks / "teardown").write_text("ran")
kept = TornDown()  # freed only by the interpreter's teardown
threading.Thread(target=slow_writer).start()
atexit.register(lambda: (marks / "atexit").write_text("ran"))
print("flushed", end="")  # a pipe: still in the buffer
if sys.argv[2] == "ok":
    exiting.succeeded()
else:
    sys.exit(3)
"""


def ended(how: str, marks: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", EXITS, str(marks), how], capture_output=True, text=True, timeout=120
    )


def test_a_success_ends_after_threads_exit_handlers_and_flushes_without_the_teardown(
    tmp_path: Path,
):
    proc = ended("ok", tmp_path)
    assert (proc.returncode, proc.stdout) == (0, "flushed")
    assert (tmp_path / "thread").read_text() == "joined"
    assert (tmp_path / "atexit").read_text() == "ran"
    assert not (tmp_path / "teardown").exists()


def test_a_failure_exits_as_python_does(tmp_path: Path):
    proc = ended("fail", tmp_path)
    assert (proc.returncode, proc.stdout) == (3, "flushed")
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "teardown").read_text() == "ran"


WORKERS = """
import atexit, os, sys, types
from pathlib import Path
from joblib import Parallel, delayed
from lrchain import exiting
marks = Path(sys.argv[1])
class TornDown:
    def __init__(self, path):
        self.path = path
    def __del__(self):
        self.path.write_text("ran")
def job(number, how):
    try:
        with exiting.job():
            pid = os.getpid()
            atexit.register(lambda: (marks / f"atexit-{pid}").write_text("ran"))
            kept = types.ModuleType(f"kept{number}")  # freed only by the interpreter's teardown
            kept.obj = TornDown(marks / f"teardown-{pid}")
            sys.modules[kept.__name__] = kept
            (marks / f"job-{pid}").write_text(how)
            if how == "fail":
                raise ValueError("the job failed")
    except ValueError:  # the worker goes on, as after a job lrchain let fail
        pass
Parallel(n_jobs=2)(delayed(job)(n, how) for n, how in enumerate(sys.argv[2:]))
"""


def worker_marks(marks: Path, *jobs: str) -> dict[str, dict[str, str]]:
    """Run `jobs` in joblib's workers; per worker: what its job, exit handlers, teardown left."""
    proc = subprocess.run(
        [sys.executable, "-c", WORKERS, str(marks), *jobs],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    found: dict[str, dict[str, str]] = {}
    for path in marks.iterdir():
        what, pid = path.name.split("-")
        found.setdefault(pid, {})[what] = path.read_text()
    return found


def test_a_joblib_worker_whose_jobs_returned_ends_after_its_exit_handlers_without_teardown(
    tmp_path: Path,
):
    workers = worker_marks(tmp_path, "ok", "ok")  # one worker may run both
    assert workers and str(os.getpid()) not in workers
    for pid, marks in workers.items():
        assert marks == {"job": "ok", "atexit": "ran"}, pid


def test_a_joblib_worker_whose_job_raised_exits_as_python_does(tmp_path: Path):
    workers = worker_marks(tmp_path, "fail")
    (marks,) = workers.values()
    assert marks == {"job": "fail", "atexit": "ran", "teardown": "ran"}


OBSERVED = """
import gc, json, runpy, sys
from pathlib import Path
import lrchain.job, lrchain.sweep, lrchain.training
seen = []
def observing(name, fn):
    def observed(*args, **kwargs):
        seen.append([name, gc.isenabled(), gc.get_freeze_count() > 0])
        Path("gc.json").write_text(json.dumps(seen))
        return fn(*args, **kwargs)
    return observed
lrchain.job.main = observing("job", lrchain.job.main)
lrchain.training.fit = observing("fit", lrchain.training.fit)
sweep = lrchain.sweep.SweepCallback
sweep.on_run_start = observing("start", sweep.on_run_start)
sweep.on_multirun_start = observing("start", sweep.on_multirun_start)
sys.argv = ["train.py", *sys.argv[1:]]
runpy.run_path("train.py", run_name="__main__")
"""


def collector_seen(folder: Path, *args: str) -> list[list]:
    """Whether Python's garbage collector ran, and had frozen what loading made, when lrchain's
    set-up, each job and each run's training began, in `python train.py ARGS`."""
    (folder / "observe.py").write_text(OBSERVED)
    proc = subprocess.run(
        [sys.executable, "observe.py", *args],
        cwd=folder,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads((folder / "gc.json").read_text())


@pytest.mark.slow
def test_the_collector_pauses_while_a_run_loads_and_runs_for_its_training(launch_dir):
    assert collector_seen(launch_dir, "trainer.epochs=1") == [
        ["start", False, False],
        ["job", False, False],
        ["fit", True, True],
    ]


@pytest.mark.slow
def test_the_collector_runs_again_before_a_sweep_composes_its_jobs(launch_dir):
    seen = collector_seen(
        launch_dir, "-m", "seed=0,1", "trainer.epochs=1", "hydra.launcher.n_jobs=1"
    )
    assert seen == [["start", False, False], *[["job", True, True], ["fit", True, True]] * 2]


COLLECTOR = """
import gc, sys
from lrchain import collector
if sys.argv[1] == "off":  # the user's own choice
    gc.disable()
collector.pause()
paused = gc.isenabled()
collector.resume()
resumed = gc.isenabled(), gc.get_freeze_count() > 0
collector.pause()  # another job in this process
print(paused, *resumed, gc.isenabled())
"""


@pytest.mark.parametrize(
    ("setting", "seen"), [("on", "False True True True"), ("off", "False False False False")]
)
def test_the_collector_pauses_once_per_process_and_leaves_the_users_setting(setting, seen):
    proc = subprocess.run(
        [sys.executable, "-c", COLLECTOR, setting], capture_output=True, text=True, timeout=60
    )
    assert proc.stdout.split() == seen.split(), proc.stderr


def test_a_sweeps_size_is_read_from_its_multirun_yaml_once_and_again_when_it_changes(tmp_path):
    from lrchain.job import sweep_size

    def save(overrides: list[str], stamp: int) -> None:
        saved = tmp_path / "multirun.yaml"
        sweeper = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
        hydra = {"sweeper": {"_target_": sweeper}, "overrides": {"task": overrides}}
        saved.write_text(json.dumps({"hydra": hydra}))  # JSON is YAML
        os.utime(saved, ns=(stamp, stamp))

    assert sweep_size(tmp_path) is None  # none saved: the launcher's count stands
    save(["sched=step,exp,chain"], 10**18)
    assert sweep_size(tmp_path) == 3
    save(["sched=step,exp,chain", "seed=0,1"], 10**18)  # same stamp: the first reading stands
    assert sweep_size(tmp_path) == 3
    save(["sched=step,exp,chain", "seed=0,1"], 2 * 10**18)  # rewritten: read again
    assert sweep_size(tmp_path) == 6
