"""A sweep's jobs are each composed once when the launching process composes them (the basic and
lrchain's parallel launchers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import runs_of, train

from lrchain.testing import clean_env

# A Hydra callback of the test's: every config Hydra composes after the sweep's set-up, counted
# at the loader's class (below lrchain's wrapper), and what each job was given.
COUNT = """
import json
from pathlib import Path
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra.experimental.callback import Callback

composed = []

class Count(Callback):
    def on_multirun_start(self, config, **kwargs):
        original = ConfigLoaderImpl.load_configuration

        def counted(self, *args, **kw):
            composed.append(list(kw.get("overrides") or args[1]))
            return original(self, *args, **kw)

        ConfigLoaderImpl.load_configuration = counted

    def on_job_start(self, config, **kwargs):  # here, or in a process forked from here
        job = [config.sched.name, config.seed, config.hydra.job.num]
        Path(f"job-{config.hydra.job.num}.json").write_text(json.dumps(job))

    def on_multirun_end(self, config, **kwargs):
        Path("count.json").write_text(json.dumps({"composed": composed}))
"""


def counted_sweep(folder: Path, *args: str) -> dict:
    (folder / "count.py").write_text(COUNT)
    train(
        folder,
        "-m",
        "trainer.epochs=1",
        "+hydra.callbacks.count._target_=count.Count",
        *args,
        env=clean_env(PYTHONPATH=str(folder)),
    )
    seen = json.loads((folder / "count.json").read_text())
    jobs = sorted(folder.glob("job-*.json"), key=lambda p: int(p.stem.split("-")[1]))
    return seen | {"jobs": [json.loads(p.read_text()) for p in jobs]}


@pytest.mark.slow
@pytest.mark.parametrize(
    "launcher", [[], ["hydra/launcher=basic"]], ids=["parallel (default)", "basic"]
)
def test_each_job_of_a_sweep_is_composed_once_and_gets_its_own_config(launch_dir, launcher):
    seen = counted_sweep(launch_dir, "sched=step,exp", "seed=0,1", *launcher)
    jobs = [["step", 0, 0], ["step", 1, 1], ["exp", 0, 2], ["exp", 1, 3]]
    assert seen["jobs"] == jobs
    assert len(seen["composed"]) == 4  # Hydra's check of the batch; the launch reused each
    runs = [r for r in runs_of(launch_dir) if r.data.tags.get("lrchain.sweep") != "true"]
    assert sorted((r.data.params["sched.name"], r.data.params["seed"]) for r in runs) == sorted(
        (name, str(seed)) for name, seed, _ in jobs
    )
    assert {r.info.status for r in runs} == {"FINISHED"}
