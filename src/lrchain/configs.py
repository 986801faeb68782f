"""Configs outside `train.py`: composed from conf/, or read back from a store and changed."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from lrchain.errors import ConfigError

# Keys that would make Hydra build arbitrary objects; lrchain never instantiates from a config.
INSTANTIATE_KEYS = ("_target_", "_partial_", "_args_", "_recursive_", "_convert_")


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


def plain(cfg: DictConfig) -> dict[str, Any]:
    """A composed config as plain, resolved values: what lrchain builds from."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def parse_untrusted(text: str, origin: str) -> dict[str, Any]:
    """A config read from a store: YAML of plain values, refused if it names objects to build.

    A config may come from a store (reproduce, resume): nothing in it may instantiate or
    interpolate; the names it uses are checked where they are built.
    """
    import yaml

    config = yaml.safe_load(text)
    if not isinstance(config, dict):
        raise ConfigError(f"{origin}: not a config mapping")
    _refuse_objects(config, "")
    return config


def apply_overrides(config: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """`key=value` changes: a config group choice (sched=exp) swaps the subtree, others set keys."""
    import yaml

    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{item!r}: an override is KEY=VALUE, e.g. optim.lr=0.05")
        group_file = conf_dir() / key / f"{text}.yaml"
        if "." not in key and group_file.exists():
            config[key] = yaml.safe_load(group_file.read_text())
            continue
        node = config
        *parents, last = key.split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"{key}: no such key in the logged config")
            node = node[part]
        if last not in node:
            raise ConfigError(f"{key}: no such key in the logged config")
        node[last] = yaml.safe_load(text)
    return config


def _refuse_objects(node: Any, path: str) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if key in INSTANTIATE_KEYS:
                raise ConfigError(
                    f"{where}: a config may not name objects to build ({value!r}); allowed: the"
                    " schedulers, optimizers, models and datasets lrchain knows, by name"
                )
            _refuse_objects(value, where)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _refuse_objects(value, f"{path}.{i}")
    elif isinstance(node, str) and "${" in node:
        raise ConfigError(f"{path}: interpolations are not accepted here, got {node!r}")


def logged_config(client: Any, run_id: str) -> dict[str, Any]:
    """The config a run logged (config/config.yaml), read as untrusted."""
    from lrchain import store
    from lrchain.contract import CONFIG_ARTIFACT

    text = store.read_text(client, run_id, CONFIG_ARTIFACT)
    return parse_untrusted(text, f"run {run_id}: {CONFIG_ARTIFACT}")
