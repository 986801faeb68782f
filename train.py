"""Train one model per schedule and log it to MLflow: `python train.py -m sched=step,exp,chain`."""

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from lrchain import collector, exiting

# OpenMP threads waiting for work sleep instead of spinning: on a busy machine a spinning thread
# holds the core its descheduled sibling needs (epochs 10-80x slower). OpenMP reads this once,
# when torch is first imported (by the Hydra callback, before any job); the user's value wins.
# The thread count itself is set per job (trainer.threads, lrchain.build.resolve_threads).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# One id per launch, inherited by parallel workers: it names this launch's output folder.
os.environ.setdefault("LRCHAIN_LAUNCH_ID", str(os.getpid()))
# MLflow's own INFO lines (database migrations) say nothing a user can act on; warnings still show.
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")

# A logged config re-runs as it is (--config-dir DIR): Hydra would let conf/config.yaml shadow it.
GIVEN_DIR = any(a in ("-cd", "--config-dir") or a.startswith("--config-dir=") for a in sys.argv)


@hydra.main(version_base="1.3", config_path=None if GIVEN_DIR else "conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    with exiting.job():  # a joblib worker ends promptly after the sweep (lrchain.exiting)
        collector.pause()  # a joblib worker's first job loads torch and MLflow (lrchain.collector)
        from lrchain.job import main as run_job

        return run_job(cfg)


def check_first() -> None:
    """Mistakes lrchain can name before Hydra starts: an unwritable folder, unknown options/keys."""
    if {"-h", "--help", "--hydra-help"} & set(sys.argv):
        return
    if not os.access(".", os.W_OK):
        sys.exit(
            f"lrchain: the launch folder {os.getcwd()} is not writable (read-only or not yours);"
            " runs write mlflow.db, mlruns/ and outputs/ there: launch from a writable folder"
        )
    if not GIVEN_DIR:
        from lrchain.errors import ConfigError
        from lrchain.overrides import check_command_line

        try:
            check_command_line(sys.argv[1:], Path(__file__).parent / "conf")
        except ConfigError as err:
            sys.exit(f"lrchain: {err}")


if __name__ == "__main__":
    exiting.install()  # before torch and MLflow load: a success ends without Python's tear-down
    collector.pause()  # no garbage collection while they load; resumed before the jobs' configs
    try:
        check_first()
        main()
        exiting.succeeded()
    except KeyboardInterrupt:  # outside a run: start-up, or a sweep between its jobs
        sys.exit("lrchain: interrupted; a run under way ends KILLED (lrchain resume RUN_ID)")
