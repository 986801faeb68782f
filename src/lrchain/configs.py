"""Compose lrchain's Hydra configs outside `train.py` (preview, reproduce, tests)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from lrchain.errors import ConfigError


def conf_dir() -> Path:
    """./conf when the current folder has one, else the conf/ of lrchain's checkout."""
    here = Path.cwd() / "conf"
    if (here / "config.yaml").exists():
        return here
    from lrchain.provenance import SOURCE

    return SOURCE / "conf"


def compose(overrides: list[str], config_dir: Path | None = None) -> DictConfig:
    """The job config that `python train.py OVERRIDES` would get."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    folder = (config_dir or conf_dir()).resolve()
    try:
        with initialize_config_dir(config_dir=str(folder), version_base="1.3"):
            return hydra_compose(config_name="config", overrides=overrides)
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(f"{' '.join(overrides)}: {err}") from None
