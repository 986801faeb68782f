"""Every user-facing config key is checked here, once, before anything is built or logged.

The schedule tree (`sched.*`) is checked by its builder, lrchain.schedules, which owns it.
A message reads `key: what is wrong; allowed: what is allowed`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from lrchain.catalog import DATASETS, MODELS, OPTIMIZERS, available_images, train_size
from lrchain.errors import ConfigError
from lrchain.store.uri import ALLOWED as URI_ALLOWED
from lrchain.store.uri import is_tracking_uri

PRECISIONS = ("auto", "fp32")
MAX_SEED = 2**32 - 1  # scikit-learn's split takes seeds up to here
DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def _whole(low: int, high: float = math.inf) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def _number(low: float, high: float = math.inf, open_ends: bool = False) -> Callable[[Any], bool]:
    def check(v: Any) -> bool:
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            return False
        return low < v < high if open_ends else low <= v <= high

    return check


def _flag(v: Any) -> bool:
    return isinstance(v, bool)


def _one_of(names: Any) -> Callable[[Any], bool]:
    return lambda v: v in names


def _text(v: Any) -> bool:
    return isinstance(v, str) and v != ""


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or check(v)


def _numbers(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(_number(0, open_ends=True)(x) for x in v)


# key -> (does the value pass?, what is allowed); a key a config does not have is not checked.
RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "seed": (_whole(0, MAX_SEED), f"a whole number from 0 to {MAX_SEED}"),
    "trainer.epochs": (_whole(1), "a whole number of at least 1"),
    "trainer.batch_size": (_whole(1), "a whole number of at least 1"),
    "trainer.device": (
        lambda v: isinstance(v, str) and DEVICE.fullmatch(v),
        "auto, cpu, cuda or cuda:N",
    ),
    "trainer.deterministic": (_flag, "true or false"),
    "trainer.checkpoint": (_flag, "true or false"),
    "trainer.checkpoint_every": (_number(0), "a number of seconds of at least 0 (0: every epoch)"),
    "trainer.threads": (
        lambda v: v == "auto" or _whole(1)(v),
        "auto (the cores this process may use / jobs running at once) or a whole number >= 1",
    ),
    "trainer.precision": (_one_of(PRECISIONS), ", ".join(PRECISIONS)),
    "trainer.compile": (_flag, "true or false"),
    "data.name": (_one_of(DATASETS), ", ".join(DATASETS)),
    "data.val_fraction": (_number(0, 1, open_ends=True), "a number above 0 and below 1"),
    "data.subset": (_optional(_whole(1)), "null (every image) or a whole number of at least 1"),
    "data.root": (_text, "a folder path"),
    "data.download": (_flag, "true or false"),
    "data.verify": (_flag, "true or false"),
    "data.augment": (_flag, "true or false"),
    "data.mean": (_numbers, "a list of positive numbers, one per channel"),
    "data.std": (_numbers, "a list of positive numbers, one per channel"),
    "sched.name": (_text, "a name (it names the run and tags it lrchain.sched)"),
    "model.name": (_one_of(MODELS), ", ".join(MODELS)),
    "model.width": (_whole(1), "a whole number of at least 1"),
    "model.hidden": (_whole(1), "a whole number of at least 1"),
    "model.depth": (_whole(1), "a whole number of at least 1"),
    "optim.name": (_one_of(OPTIMIZERS), ", ".join(OPTIMIZERS)),
    "optim.lr": (_number(0, open_ends=True), "a finite number above 0"),
    "optim.head_lr": (
        _optional(_number(0, open_ends=True)),
        "null (the head trains at optim.lr) or a finite number above 0",
    ),
    "optim.momentum": (_number(0, 1), "a number from 0 to 1"),
    "optim.weight_decay": (_number(0), "a finite number of at least 0"),
    "optim.nesterov": (_flag, "true or false"),
    "optim.betas": (
        lambda v: (
            isinstance(v, list) and len(v) == 2 and all(_number(0, 1)(b) and b < 1 for b in v)
        ),
        "two numbers from 0 to below 1",
    ),
    "tracking.uri": (
        _optional(lambda v: isinstance(v, str) and is_tracking_uri(v)),
        f"null (the default store) or {URI_ALLOWED}",
    ),
    "tracking.experiment": (_text, "a non-empty name"),
    "tracking.run_name": (_optional(_text), "null or a name"),
    "tracking.log_model": (_flag, "true or false"),
}


def validate(config: Mapping[str, Any]) -> None:
    """Refuse, with one message, the first key of `config` whose value lrchain cannot use."""
    for key, (passes, allowed) in RULES.items():
        found, value = _lookup(config, key)
        if found and not passes(value):
            raise ConfigError(f"{key}: got {value!r}; allowed: {allowed}")
    _check_data(config["data"])
    if config["optim"].get("nesterov") and not config["optim"].get("momentum"):
        raise ConfigError("optim.nesterov: true needs optim.momentum above 0; allowed: false")
    _check_schedule(config)


def _check_data(data: Mapping[str, Any]) -> None:
    """The keys whose allowed values depend on the dataset: subset size and channel statistics."""
    channels = DATASETS[data["name"]][1]
    available = available_images(data)
    subset = data.get("subset")
    if subset is not None and subset > available:
        raise ConfigError(
            f"data.subset: {subset} is more than the {available} training images of"
            f" {data['name']} left after the validation split; allowed: at most {available},"
            " or null for all"
        )
    for key in ("mean", "std"):
        if data.get(key) is not None and len(data[key]) != channels:
            raise ConfigError(
                f"data.{key}: got {len(data[key])} values; allowed: one per channel ({channels})"
            )


def _check_schedule(config: Mapping[str, Any]) -> None:
    """The schedule tree (`sched.*`), checked by its builder on a throw-away optimizer."""
    from lrchain.data import steps_per_epoch
    from lrchain.models import scratch_optimizer
    from lrchain.param_groups import sched_for_groups
    from lrchain.schedules import build_schedule

    trainer, optim = config["trainer"], config["optim"]
    steps = steps_per_epoch(train_size(config["data"]), trainer["batch_size"])
    sched = sched_for_groups(config["sched"], optim)
    build_schedule(sched, scratch_optimizer(optim), trainer["epochs"], steps)


def _lookup(config: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node
