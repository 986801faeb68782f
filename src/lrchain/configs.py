"""Compose lrchain's Hydra configs outside `train.py` (preview, reproduce, tests)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

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


# Keys that would make Hydra build arbitrary objects; lrchain never instantiates from a config.
INSTANTIATE_KEYS = ("_target_", "_partial_", "_args_", "_recursive_", "_convert_")


def check_config(settings: Mapping[str, Any]) -> None:
    """Refuse, before anything runs, a config lrchain would not build exactly as named.

    A config may come from a store (reproduce, resume): only the datasets, models, optimizers
    and schedulers lrchain knows are accepted, and nothing that instantiates or interpolates.
    """
    from lrchain.data import DATASETS
    from lrchain.models import MODELS, OPTIMIZERS
    from lrchain.schedules import KNOWN

    _refuse_objects(settings, "")
    for path, name in _scheduler_names(settings["sched"], "sched"):
        if name not in KNOWN:
            raise ConfigError(f"{path}: unknown scheduler {name!r}; known: {', '.join(KNOWN)}")
    for key, known in (("data", DATASETS), ("model", MODELS), ("optim", OPTIMIZERS)):
        name = settings[key]["name"]
        if name not in known:
            raise ConfigError(f"{key}.name: unknown {key} {name!r}; known: {', '.join(known)}")
    for key in ("epochs", "batch_size"):
        value = settings["trainer"][key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"trainer.{key}: must be a whole number of at least 1, got {value!r}")
    precision = settings["trainer"].get("precision", "auto")
    if precision not in ("auto", "fp32"):
        raise ConfigError(f"trainer.precision: {precision!r} is not one of auto, fp32")


def _refuse_objects(node: Any, path: str) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if key in INSTANTIATE_KEYS:
                raise ConfigError(
                    f"{where}: lrchain builds only the schedulers, optimizers, models and"
                    f" datasets it knows; a config may not name objects to build ({value!r})"
                )
            _refuse_objects(value, where)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _refuse_objects(value, f"{path}.{i}")
    elif isinstance(node, str) and "${" in node:
        raise ConfigError(f"{path}: interpolations are not accepted here, got {node!r}")


def _scheduler_names(node: Any, path: str) -> list[tuple[str, Any]]:
    """(config path, value) of every `type` in a schedule tree."""
    if isinstance(node, list):
        node = {str(i): v for i, v in enumerate(node)}
    if not isinstance(node, Mapping):
        return []
    found = [(f"{path}.type", node["type"])] if "type" in node else []
    for key, value in node.items():
        if isinstance(value, (Mapping, list)):
            found += _scheduler_names(value, f"{path}.{key}")
    return found
