"""A sweep's jobs find what they import already loaded where they run (lrchain.workers)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from conftest import runs_of, train

from lrchain.testing import clean_env
from lrchain.workers import crowding, job_modules, joblib_settings

# Loaded by a job before its first epoch; torch._dynamo comes with the first optimizer step.
LOADED = ["torch", "torch._dynamo", "mlflow.store.tracking.sqlalchemy_store"]

# A Hydra callback of the test's: what each job's process had loaded when the job began, and
# whether the launching process ever loaded torch.
OBSERVE = """
import json, os, sys
from pathlib import Path
from hydra.experimental.callback import Callback

LOADED = __LOADED__

class Observe(Callback):
    def on_multirun_start(self, config, **kwargs):
        Path("launcher.json").write_text(json.dumps({"pid": os.getpid()}))

    def on_job_start(self, config, **kwargs):
        seen = {"pid": os.getpid(), "loaded": [m for m in LOADED if m in sys.modules]}
        Path(f"job-{config.sched.name}.json").write_text(json.dumps(seen))

    def on_multirun_end(self, config, **kwargs):
        seen = json.loads(Path("launcher.json").read_text())
        seen["torch"] = "torch" in sys.modules
        Path("launcher.json").write_text(json.dumps(seen))
""".replace("__LOADED__", repr(LOADED))


def observed_sweep(folder: Path, *args: str) -> tuple[dict, dict[str, dict]]:
    """`python train.py -m sched=step,exp ARGS` observed: the launcher's, and each job's, view."""
    (folder / "observe.py").write_text(OBSERVE)
    train(
        folder,
        "-m",
        "sched=step,exp",
        "trainer.epochs=1",
        "+hydra.callbacks.observe._target_=observe.Observe",
        *args,
        env=clean_env(PYTHONPATH=str(folder)),  # the callback's module, in every worker too
    )
    assert len(runs_of(folder)) == 3  # the parent and its two jobs, as without the callback
    launcher = json.loads((folder / "launcher.json").read_text())
    jobs = {name: json.loads((folder / f"job-{name}.json").read_text()) for name in ("step", "exp")}
    return launcher, jobs


@pytest.mark.slow
def test_joblib_workers_load_during_the_set_up_and_the_launcher_never_loads_torch(launch_dir):
    launcher, jobs = observed_sweep(launch_dir, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    assert launcher["torch"] is False  # it trains nothing: ~1.7 s and ~300 MB saved
    for job in jobs.values():
        assert job["pid"] != launcher["pid"]
        assert job["loaded"] == LOADED


@pytest.mark.slow
@pytest.mark.parametrize(
    "launcher",
    [
        ["hydra/launcher=basic"],
        ["hydra.launcher.n_jobs=1"],
        ["hydra/launcher=joblib", "hydra.launcher.n_jobs=1"],
    ],
    ids=["basic", "parallel-1", "joblib-1"],
)
def test_jobs_run_here_find_their_modules_loaded_during_the_set_up(launch_dir, launcher):
    launcher_seen, jobs = observed_sweep(launch_dir, *launcher)
    assert launcher_seen["torch"] is True
    assert jobs["step"]["pid"] == jobs["exp"]["pid"] == launcher_seen["pid"]
    assert jobs["step"]["loaded"] == LOADED  # loaded while garbage collection was paused


# In every process of the test's sweep: a joblib worker (loky's) takes a minute to start.
SLOW_WORKERS = """
import sys, time
if "--process-name" in sys.argv:
    time.sleep(60)
"""


def processes_with(marker: str) -> list[int]:
    """The ids of the processes whose environment holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:  # ended meanwhile, or not ours to read
            continue
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc")
def test_a_store_that_fails_stops_the_loading_workers_and_says_so_at_once(launch_dir):
    (launch_dir / "sitecustomize.py").write_text(SLOW_WORKERS)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    marker = f"LRCHAIN_TEST_{uuid.uuid4().hex}"
    args = ["-m", "seed=0,1", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    proc = subprocess.run(
        [sys.executable, "train.py", *args, f"tracking.uri=http://127.0.0.1:{port}"],
        cwd=launch_dir,
        env=clean_env(PYTHONPATH=str(launch_dir), **{marker: "1"}),
        capture_output=True,
        text=True,
        timeout=45,  # not the workers' minute: they were stopped
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("lrchain: tracking.uri: no tracking")
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr
    assert processes_with(marker) == [], "a worker outlived the command"


def test_the_workers_are_asked_of_joblib_as_hydras_launcher_asks():
    from hydra_plugins.hydra_joblib_launcher.config import JobLibLauncherConf
    from joblib import Parallel
    from omegaconf import OmegaConf

    launcher = OmegaConf.to_container(OmegaConf.structured(JobLibLauncherConf(n_jobs=2)))
    settings = joblib_settings(launcher)
    assert "_target_" not in settings
    assert settings["backend"] == "loky"  # what the launcher sets, whatever its config says
    assert settings["n_jobs"] == 2
    assert Parallel(**settings).n_jobs == 2  # every key is one of joblib.Parallel's


def test_a_job_loads_its_datas_and_its_stores_libraries():
    def config(data: str, uri: str):
        from omegaconf import OmegaConf

        return OmegaConf.create({"data": {"name": data}, "tracking": {"uri": uri}})

    digits = job_modules(config("digits", "sqlite:///mlflow.db"))
    assert "torch._dynamo" in digits
    assert "mlflow.store.tracking.sqlalchemy_store" in digits
    assert "torchvision.datasets" not in digits  # digits come from lrchain's cache
    served = job_modules(config("cifar10", "http://127.0.0.1:5000"))
    assert "torchvision.datasets" in served
    assert "mlflow.store.tracking.sqlalchemy_store" not in served  # the server's, not the job's


def test_more_jobs_at_once_than_cores_are_named_and_fitting_ones_are_not():
    assert crowding(2, 2) is None
    assert crowding(1, 8) is None
    note = crowding(4, 2)
    assert note is not None
    assert note.startswith("4 jobs at once on 2 core(s)")
    assert "hydra.launcher.n_jobs=2" in note
