"""The launcher Hydra instantiates for hydra/launcher=parallel (conf/hydra/launcher/parallel.yaml).

Hydra imports this module at every start (its plugin scan): lrchain loads only when a sweep runs.
"""

from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class ParallelLauncher(Launcher):
    """A sweep's jobs forked from the launching process, several at once on a CPU."""

    def __init__(self, n_jobs: Any = "auto") -> None:
        self.n_jobs = n_jobs  # auto, or at most this many jobs at once
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        from lrchain.parallel import launch

        return launch(self, job_overrides, initial_job_idx)
