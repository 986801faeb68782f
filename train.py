"""Train one model per schedule and log it to MLflow: `python train.py -m sched=step,exp,chain`."""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from lrchain.job import main as run_job

    return run_job(cfg)


if __name__ == "__main__":
    main()
