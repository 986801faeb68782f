"""The sweeper Hydra instantiates for hydra/sweeper=schedule_search; lrchain.search does the work.

Hydra imports this module at every start (its plugin scan): optuna and lrchain load only when a
search runs.
"""

from __future__ import annotations

from typing import Any

from hydra.core.plugins import Plugins
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class ScheduleSearch(Sweeper):
    """An Optuna study run trial by trial through Hydra's configured launcher."""

    def __init__(self, **settings: Any) -> None:
        self.settings = settings  # read again, checked, from config.hydra.sweeper by the search
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher: Launcher | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> Any:
        from lrchain.search.sweeper import sweep

        return sweep(self, arguments)
