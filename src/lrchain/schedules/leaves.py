"""Leaves from config: which torch schedulers a config may name, and checks of their arguments."""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from typing import Any

import torch
from torch.optim import lr_scheduler

from lrchain.contract import MONITORED
from lrchain.errors import did_you_mean
from lrchain.schedules.checks import check_increasing, fail
from lrchain.schedules.tree import LeafNode, shadow_optimizer

# The scheduler classes a config may name; nothing else is ever built from a config.
SCHEDULERS = (
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "LinearLR",
    "ConstantLR",
    "PolynomialLR",
    "OneCycleLR",
    "CyclicLR",
    "ReduceLROnPlateau",
)
AUTO_LENGTH = ("T_max", "total_iters", "total_steps")  # arguments that accept `auto`
POSITIVE = ("gamma", "step_size", "T_max", "T_0", "total_iters", "total_steps", "max_lr")
PER_GROUP = ("base_lr", "max_lr", "min_lr", "base_momentum", "max_momentum")  # or one per group
CALLABLES = ("scale_fn",)  # arguments that take a Python function: a config may not name one
LEAF_KEYS = ("name", "interval", "type", "monitor")  # lrchain's own keys; the rest are arguments
MOVES_MOMENTUM = ("OneCycleLR", "CyclicLR")
NOT_ARGUMENTS = {  # torch's arguments that lrchain supplies or forbids, and why
    "self": "",
    "optimizer": "lrchain passes the run's optimizer",
    "last_epoch": "lrchain counts the steps, and a resumed run restores them from its checkpoint",
    "verbose": "PyTorch deprecated it",
}


def build_leaf(
    sched: Mapping,
    path: str,
    optimizer: torch.optim.Optimizer,
    length: int,
    interval: str,
    shadow: torch.optim.Optimizer | None = None,
) -> LeafNode:
    """The leaf `sched` (a mapping with `type`); `length` is what `auto` means, in `interval`s.

    Its scheduler drives `shadow`, or a shadow of its own, never `optimizer` itself.
    """
    name = sched["type"]
    if name not in SCHEDULERS:
        raise fail(
            f"{path}.type",
            f"unknown scheduler {name!r}{did_you_mean(name, SCHEDULERS)};"
            f" allowed: {', '.join(SCHEDULERS)}",
        )
    scheduler_class = getattr(lr_scheduler, name)
    monitor = sched.get("monitor")
    given = {k: v for k, v in sched.items() if k not in LEAF_KEYS}
    groups = [g.get("name", f"group {i}") for i, g in enumerate(optimizer.param_groups)]
    args = _check_arguments(scheduler_class, given, path, length, interval, groups)
    if name == "ReduceLROnPlateau":
        _check_plateau(monitor, path, interval)
        args.setdefault("mode", "max" if monitor.endswith("acc") else "min")
    elif monitor is not None:
        raise fail(
            f"{path}.monitor", f"{name} watches no metric; allowed: monitor on ReduceLROnPlateau"
        )
    shadow = shadow or shadow_optimizer(optimizer)
    try:
        scheduler = scheduler_class(shadow, **args)
    except (ValueError, TypeError) as err:
        raise fail(path, f"{name}({_show(args)}) is refused by PyTorch: {err}") from None
    moves_momentum = name in MOVES_MOMENTUM and bool(args.get("cycle_momentum", True))
    return LeafNode(scheduler, interval, monitor, moves_momentum)


def _check_arguments(
    scheduler_class, given: Mapping, path: str, length: int, interval: str, groups: list[str]
) -> dict:
    """The arguments for `scheduler_class`, with `auto` replaced by `length`."""
    name = scheduler_class.__name__
    params = inspect.signature(scheduler_class.__init__).parameters
    allowed = [p for p in params if p not in NOT_ARGUMENTS]
    args = {}
    for key, value in given.items():
        if NOT_ARGUMENTS.get(key):
            raise fail(
                f"{path}.{key}",
                f"{NOT_ARGUMENTS[key]}, so a config cannot set it; allowed: {', '.join(allowed)}",
            )
        if key not in allowed:
            own = "interval, monitor" if name == "ReduceLROnPlateau" else "interval"
            raise fail(
                f"{path}.{key}",
                f"{name} takes no argument {key!r}{did_you_mean(key, allowed)};"
                f" allowed: {', '.join(allowed)} (and lrchain's {own})",
            )
        if value == "auto":
            if key not in AUTO_LENGTH:
                raise fail(
                    f"{path}.{key}", f"got 'auto'; allowed: 'auto' for {', '.join(AUTO_LENGTH)}"
                )
            if length < 1:
                raise fail(f"{path}.{key}", f"'auto' gives a length of {length} {interval}s")
            value = length
        elif key in PER_GROUP:
            _check_per_group(f"{path}.{key}", value, groups, positive=key in POSITIVE)
        elif key in POSITIVE and not (_is_number(value) and value > 0):
            raise fail(f"{path}.{key}", f"got {value!r}; allowed: a number above 0")
        else:
            _check_type(f"{path}.{key}", key, value, params[key].default)
        args[key] = value
    _check_complete(name, params, allowed, args, path)
    return args


def _check_complete(name: str, params: Mapping, allowed: list[str], args: dict, path: str) -> None:
    if name == "OneCycleLR" and "total_steps" not in args:
        raise fail(
            f"{path}.total_steps",
            "OneCycleLR needs the length of its cycle; allowed: total_steps: auto (lrchain"
            " counts the batches of the run) or a number",
        )
    missing = [
        p
        for p in allowed
        if params[p].default is inspect.Parameter.empty
        and params[p].kind is params[p].POSITIONAL_OR_KEYWORD
        and p not in args
    ]
    if missing:
        hint = " (or auto: the rest of the run)" if set(missing) & set(AUTO_LENGTH) else ""
        raise fail(path, f"{name} needs {', '.join(missing)}; allowed: a value for each{hint}")
    if "milestones" in args:
        check_increasing(args["milestones"], f"{path}.milestones")


def _check_plateau(monitor: str | None, path: str, interval: str) -> None:
    if monitor not in MONITORED:
        raise fail(
            f"{path}.monitor",
            f"ReduceLROnPlateau needs the metric it watches, got monitor {monitor!r};"
            f" allowed: {', '.join(MONITORED)}",
        )
    if interval != "epoch":
        raise fail(
            f"{path}.interval",
            f"got {interval!r}; allowed: epoch (ReduceLROnPlateau steps after each evaluation)",
        )


def _check_type(path: str, key: str, value: Any, default: Any) -> None:
    """A value of the kind torch's own default has: a flag, a whole number, a number or text."""
    if key in CALLABLES:
        passes, allowed = value is None, "null (a config cannot name a Python function)"
    elif isinstance(default, bool):
        passes, allowed = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        passes, allowed = _is_number(value) and float(value).is_integer(), "a whole number"
    elif isinstance(default, float):
        passes, allowed = _is_number(value), "a number"
    elif isinstance(default, str):
        passes, allowed = isinstance(value, str), "a name"
    else:  # no default, or None: torch checks the value itself
        return
    if not passes:
        raise fail(path, f"got {value!r}; allowed: {allowed}")


def _check_per_group(path: str, value: Any, groups: list[str], positive: bool) -> None:
    """A number, or a list of one number per param group (as PyTorch takes them)."""
    low = 0 if positive else -math.inf
    values = value if isinstance(value, list) else [value]
    fits = len(values) == len(groups) or not isinstance(value, list)
    if fits and all(_is_number(v) and v > low for v in values):
        return
    kind = "a number above 0" if positive else "a number"
    which = (
        f": {', '.join(groups)}"
        if len(groups) > 1
        else "; optim.head_lr gives the model's head a group of its own"
    )
    raise fail(
        path,
        f"got {value!r}; allowed: {kind}, or a list of {len(groups)} (one per param group{which})",
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _show(args: Mapping) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in args.items())
