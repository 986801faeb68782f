"""Train one model per schedule and log it to MLflow: `python train.py -m sched=step,exp,chain`."""

import os
import sys

import hydra
from omegaconf import DictConfig

# One id per launch, inherited by parallel workers: it names this launch's output folder.
os.environ.setdefault("LRCHAIN_LAUNCH_ID", str(os.getpid()))

# A logged config re-runs as it is (--config-dir DIR): Hydra would let conf/config.yaml shadow it.
GIVEN_DIR = any(a in ("-cd", "--config-dir") or a.startswith("--config-dir=") for a in sys.argv)


@hydra.main(version_base="1.3", config_path=None if GIVEN_DIR else "conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from lrchain.job import main as run_job

    return run_job(cfg)


if __name__ == "__main__":
    if not os.access(".", os.W_OK) and not {"-h", "--help"} & set(sys.argv):
        sys.exit(
            f"lrchain: the launch folder {os.getcwd()} is not writable (read-only or not yours);"
            " runs write mlflow.db, mlruns/ and outputs/ there: launch from a writable folder"
        )
    main()
