"""The default launcher: a sweep's jobs forked from the launching process, several at once."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import client_for, history, runs_of, train
from omegaconf import OmegaConf

from lrchain.errors import ConfigError
from lrchain.parallel import at_once, jobs_at_once, why_one_at_a_time
from lrchain.testing import clean_env, start_train, stop_group

LINUX = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="forks on Linux only")

# A Hydra callback of the test's: each job's process, its parent and group, whether torch was
# loaded and garbage collection on when the job began, and which of its files were the store.
OBSERVE = """
import gc, json, os, sys
from pathlib import Path
from hydra.experimental.callback import Callback

class Observe(Callback):
    def on_multirun_start(self, config, **kwargs):
        Path("launcher.json").write_text(json.dumps({"pid": os.getpid()}))

    def on_job_start(self, config, **kwargs):
        fds = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
               if os.path.exists(f"/proc/self/fd/{fd}")]
        seen = {"pid": os.getpid(), "ppid": os.getppid(), "pgid": os.getpgid(0),
                "torch": "torch" in sys.modules, "store_fds": [f for f in fds if "mlflow.db" in f],
                "gc": [gc.isenabled(), gc.get_freeze_count() > 0]}
        Path(f"job-{config.hydra.job.num}.json").write_text(json.dumps(seen))
"""


def observed(folder: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    (folder / "observe.py").write_text(OBSERVE)
    hook = "+hydra.callbacks.observe._target_=observe.Observe"
    return train(folder, "-m", *args, hook, env=clean_env(PYTHONPATH=str(folder)), check=check)


def jobs_seen(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("job-*.json"))]


@pytest.mark.parametrize(
    ("jobs", "cores", "expected"),
    [(1, 2, 1), (2, 2, 2), (3, 2, 3), (4, 2, 2), (5, 2, 3), (9, 2, 3), (3, 8, 3), (100, 2, 2)],
)
def test_a_batch_runs_in_as_few_rounds_as_keep_every_core_busy(jobs, cores, expected):
    assert at_once(jobs, cores) == expected
    assert jobs_at_once("auto", jobs, cores) == expected


def test_a_number_caps_the_jobs_at_once_and_anything_else_is_refused():
    assert jobs_at_once(2, 5, 8) == 2 and jobs_at_once("4", 3, 8) == 3
    for bad in (0, -1, "many", 1.5, True):
        with pytest.raises(ConfigError, match="hydra.launcher.n_jobs"):
            jobs_at_once(bad, 3, 2)


@LINUX
def test_jobs_on_a_gpu_run_one_at_a_time():
    gpu = OmegaConf.create({"trainer": {"device": "cuda:0"}})
    cpu = OmegaConf.create({"trainer": {"device": "cpu"}})
    assert "GPU" in why_one_at_a_time([cpu, gpu])
    assert why_one_at_a_time([cpu, cpu]) is None


@pytest.mark.slow
@LINUX
def test_the_default_sweep_forks_each_job_loaded_with_no_store_connection_of_the_launcher(
    launch_dir,
):
    proc = observed(launch_dir, "sched=step,exp,chain", "trainer.epochs=2")
    launcher = json.loads((launch_dir / "launcher.json").read_text())
    jobs = jobs_seen(launch_dir)
    assert len(jobs) == 3 and len({job["pid"] for job in jobs}) == 3
    for job in jobs:
        assert job["ppid"] == launcher["pid"] != job["pid"]  # forked by the launching process
        assert job["pgid"] == job["pid"]  # its own group: signals reach it through the launcher
        assert job["torch"] is True  # nothing to import again
        assert job["gc"] == [True, True]  # collecting, past what loading made (lrchain.collector)
        assert job["store_fds"] == []  # the launcher's connections were closed, not shared
    k = at_once(3, len(os.sched_getaffinity(0)))
    assert f"Launching 3 jobs locally, {k} at a time" in proc.stdout + proc.stderr
    runs = runs_of(launch_dir)
    assert sorted(r.info.status for r in runs) == ["FINISHED"] * 4
    threads = {r.data.tags["lrchain.threads"] for r in runs if "lrchain.threads" in r.data.tags}
    assert threads == {str(max(1, len(os.sched_getaffinity(0)) // k))}
    assert (next(launch_dir.glob("multirun/*/*/comparison")) / "summary.md").exists()


@pytest.mark.slow
@LINUX
def test_a_forked_job_gives_the_numbers_of_the_same_run_alone(launch_dir):
    train(launch_dir, "-m", "sched=step,exp", "trainer.epochs=3")
    swept = {r.info.run_name: r for r in runs_of(launch_dir) if r.info.run_name in ("step", "exp")}
    threads = swept["exp"].data.tags["lrchain.threads"]
    train(launch_dir, "sched=exp", "trainer.epochs=3", f"trainer.threads={threads}")
    alone = runs_of(launch_dir)[-1]
    for key in ("lr", "train/loss", "val/loss", "val/acc"):
        assert history(launch_dir, alone.info.run_id, key) == history(
            launch_dir, swept["exp"].info.run_id, key
        )


@pytest.mark.slow
@LINUX
def test_one_job_at_a_time_runs_in_the_launching_process(launch_dir):
    observed(launch_dir, "sched=step,exp", "trainer.epochs=1", "hydra.launcher.n_jobs=1")
    launcher = json.loads((launch_dir / "launcher.json").read_text())
    assert [job["pid"] for job in jobs_seen(launch_dir)] == [launcher["pid"]] * 2


def test_a_bad_n_jobs_is_one_message_and_no_job(launch_dir):
    proc = train(launch_dir, "-m", "sched=step,exp", "hydra.launcher.n_jobs=0", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "lrchain: hydra.launcher.n_jobs: got 0; allowed: auto or a number >= 1"
    )
    assert "Traceback" not in proc.stderr
    assert not list(launch_dir.glob("multirun/*/*/0"))


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit():
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def read_until(proc: subprocess.Popen, pattern: str, count: int = 1) -> list[str]:
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if len([seen for seen in lines if re.search(pattern, seen)]) >= count:
            return lines
    raise AssertionError("".join(lines))


def job_processes(pid: int) -> list[int]:
    """The launcher's forked jobs (not the helpers multiprocessing may start)."""
    jobs = []
    for child in children_of(pid):
        try:
            if "train.py" in Path(f"/proc/{child}/cmdline").read_text():
                jobs.append(child)
        except OSError:
            continue
    return jobs


@pytest.mark.slow
@LINUX
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_to_the_launcher_ends_every_running_job_killed_once(launch_dir, sig):
    proc = start_train(launch_dir, "-m", "sched=step,exp", "trainer.epochs=200")
    try:
        read_until(proc, r"epoch +2/200", count=2)
        jobs = job_processes(proc.pid)
        assert len(jobs) == 2
        proc.send_signal(sig)  # the launcher only, as a terminal's Ctrl-C now reaches it
        out = proc.communicate(timeout=120)[0]
    finally:
        stop_group(proc)
    assert proc.returncode == 130, out
    runs = runs_of(launch_dir)
    assert sorted(r.info.status for r in runs) == ["KILLED"] * 3, out  # the parent too
    assert out.count("is KILLED, its last checkpoint kept") == 2
    assert "Traceback" not in out
    assert not [pid for pid in jobs if Path(f"/proc/{pid}").exists()]


@pytest.mark.slow
@LINUX
def test_a_job_that_dies_fails_alone_and_its_run_ends_killed(launch_dir):
    proc = start_train(launch_dir, "-m", "sched=step,exp", "trainer.epochs=30")
    try:
        read_until(proc, r"epoch +2/30", count=2)
        jobs = job_processes(proc.pid)
        assert len(jobs) == 2
        os.kill(jobs[0], signal.SIGKILL)  # as the kernel's out-of-memory killer would
        out = proc.communicate(timeout=300)[0]
    finally:
        stop_group(proc)
    assert proc.returncode == 1, out
    assert "its process ended with signal 9 (SIGKILL) before the job returned" in out
    statuses = {r.info.run_name: r.info.status for r in runs_of(launch_dir)}
    assert sorted(statuses[name] for name in ("step", "exp")) == ["FINISHED", "KILLED"], out
    assert "1 job(s) failed" in out
    parent = next(r for r in runs_of(launch_dir) if r.data.tags.get("lrchain.sweep"))
    assert parent.info.status == "FAILED"
    killed = next(r for r in runs_of(launch_dir) if r.info.status == "KILLED")
    assert f"continue its run with `lrchain resume {killed.info.run_id}`" in out
    assert client_for(launch_dir).get_run(killed.info.run_id).info.end_time is not None


def log_inputs_together(uri: str, run_id: str, data, barrier) -> None:
    """In a forked process: wait for the others, then log the digits' splits as the run's inputs."""
    import torch

    from lrchain import store
    from lrchain.model_logging import log_dataset_inputs

    torch.set_num_threads(1)  # OpenMP's threads do not survive a fork of this test's process
    client = store.connect(uri)
    barrier.wait()
    log_dataset_inputs(client, run_id, data)


@LINUX
def test_jobs_that_start_together_each_log_their_dataset_inputs(tmp_path):
    import multiprocessing

    import torch

    from lrchain import store
    from lrchain.data import load_data

    data = load_data({"name": "digits", "val_fraction": 0.2}, 0, torch.device("cpu"))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client, _ = store.open_experiment(uri, "lrchain", tmp_path)
    context = multiprocessing.get_context("fork")
    for round_ in range(3):  # a new experiment each time: its dataset does not exist yet
        experiment = client.create_experiment(f"together-{round_}")
        runs = [client.create_run(experiment).info.run_id for _ in range(6)]
        store.release_connections(uri)
        barrier = context.Barrier(len(runs))
        args = [(uri, run_id, data, barrier) for run_id in runs]
        procs = [context.Process(target=log_inputs_together, args=a) for a in args]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(120)
            if proc.exitcode is None:
                proc.kill()
        assert [proc.exitcode for proc in procs] == [0] * len(runs)  # none lost the race
        for run_id in runs:
            contexts = {i.tags[0].value for i in client.get_run(run_id).inputs.dataset_inputs}
            assert contexts == {"train", "val"}


# A Hydra callback of the test's: torch computes in the launching process after lrchain loaded it,
# which starts OpenMP's worker threads there.
HOT = """
from hydra.experimental.callback import Callback

class Hot(Callback):
    def on_multirun_start(self, config, **kwargs):
        import torch
        x = torch.randn(1000, 1000)
        (x @ x).sum()
"""


@pytest.mark.slow
@LINUX
def test_a_launcher_with_threads_of_its_own_runs_its_jobs_here_instead_of_hanging(launch_dir):
    (launch_dir / "hot.py").write_text(HOT)
    args = ["-m", "sched=step,exp", "trainer.epochs=1", "trainer.threads=2"]
    proc = start_train(
        launch_dir,
        *args,
        "+hydra.callbacks.hot._target_=hot.Hot",
        env=clean_env(PYTHONPATH=str(launch_dir)),
    )
    try:
        out = proc.communicate(timeout=300)[0]  # forked, each job's 2 threads waited forever
    finally:
        stop_group(proc)
    assert proc.returncode == 0, out
    assert "this process started threads since it loaded torch: its jobs run one at a time" in out
    assert sorted(r.info.status for r in runs_of(launch_dir)) == ["FINISHED"] * 3
