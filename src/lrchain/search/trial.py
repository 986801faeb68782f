"""A job's side of a search: its trial reports the objective every epoch and may be pruned.

The sweeper writes SEARCH_FILE into the sweep folder before each batch: the study, its storage,
the objective and pruner, and which trial each Hydra job number runs. A file, like the sweep's
own (lrchain.sweep), so that it reaches jobs a launcher runs in other processes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lrchain.contract import TAG_PRUNED, TAG_PRUNED_EPOCH, TAG_TRIAL

SEARCH_FILE = "lrchain-search.json"


def write_search(folder: Path, info: dict[str, Any]) -> None:
    """Write the search file atomically: jobs of the last batch may still be reading it."""
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{SEARCH_FILE}.{os.getpid()}"
    temporary.write_text(json.dumps(info, indent=1))
    temporary.replace(folder / SEARCH_FILE)


def trial_of(output_dir: Path, job_num: int) -> TrialReporter | None:
    """The trial that Hydra job `job_num` runs, found above its output folder; None outside a
    search."""
    for folder in (output_dir, *output_dir.parents[:3]):
        if (folder / SEARCH_FILE).is_file():
            info = json.loads((folder / SEARCH_FILE).read_text())
            entry = info["trials"].get(str(job_num))
            return TrialReporter(info, *entry) if entry else None
    return None


def open_storage(url: str) -> Any:
    """Optuna's RDB storage at `url`; SQLite waits for a lock held by a parallel job."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # lrchain prints each trial's outcome
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)


class TrialReporter:
    """One trial of the study: the objective reported per epoch, the outcome told at the end."""

    def __init__(self, info: dict[str, Any], number: int, trial_id: int):
        self.info, self.number, self.trial_id = info, number, trial_id
        self.value: float | None = None  # the objective so far: best or last epoch's
        self.pruned_epoch: int | None = None
        self._trial: Any = None

    @property
    def tags(self) -> dict[str, str]:
        return {TAG_TRIAL: str(self.number)}

    def after_epoch(self, epoch: int, metrics: dict[str, float]) -> dict[str, str] | None:
        """Report the epoch's objective; the tags that end the run when the pruner says stop."""
        value = metrics[self.info["objective"]]
        if self.info["objective_epoch"] == "best" and self.value is not None:
            better = max if self.info["direction"] == "maximize" else min
            value = better(self.value, value)
        self.value = value
        trial = self._open()
        trial.report(value, epoch)
        if not trial.should_prune():
            return None
        self.pruned_epoch = epoch
        return {TAG_PRUNED: "true", TAG_PRUNED_EPOCH: str(epoch)}

    def finish(self) -> None:
        """Tell the study how the trained run ended: pruned, or complete with its objective."""
        from optuna.trial import TrialState

        study = self._open().study
        if self.pruned_epoch is not None:
            study.tell(self.number, state=TrialState.PRUNED)
        elif self.value is None:  # no epoch trained: nothing to rank it by
            study.tell(self.number, state=TrialState.FAIL)
        else:
            study.tell(self.number, self.value)

    def _open(self) -> Any:
        """The trial, loaded once, with the study's pruner (optuna imported here, in the job)."""
        if self._trial is None:
            import optuna
            from hydra.utils import instantiate

            study = optuna.load_study(
                study_name=self.info["study"],
                storage=open_storage(self.info["storage"]),
                sampler=optuna.samplers.RandomSampler(),  # samples nothing here: the sweeper did
                pruner=instantiate(self.info["pruner"]),
            )
            self._trial = optuna.trial.Trial(study, self.trial_id)
        return self._trial
