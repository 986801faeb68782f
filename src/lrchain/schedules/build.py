"""From config to schedule: a plain mapping of `sched.*` keys, checked and built in one walk."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from lrchain.errors import did_you_mean
from lrchain.schedules.checks import check_increasing, fail
from lrchain.schedules.leaves import build_leaf
from lrchain.schedules.tree import (
    ChainNode,
    Schedule,
    SequenceNode,
    shadow_optimizer,
    simulate,
    simulate_groups,
)

INTERVALS = ("epoch", "step")
KINDS = ("type", "chain", "sequence")  # a schedule node has exactly one of these keys
NODE_KEYS = {
    "chain": ("name", "interval", "chain", "compose"),
    "sequence": ("name", "interval", "sequence", "milestones"),
}
COMPOSE = {
    "multiply": "the members' factors multiply",
    "pytorch": "each member steps the rate the ones before it left, as ChainedScheduler",
}


class _Context:
    """What building needs to know about the run: its optimizer and batches per epoch."""

    def __init__(self, optimizer: torch.optim.Optimizer, steps_per_epoch: int):
        self.optimizer, self.steps_per_epoch = optimizer, steps_per_epoch
        self.base_lrs = [float(g["lr"]) for g in optimizer.param_groups]

    def ticks(self, window: int, interval: str) -> int:
        """A window of batches counted in steps of `interval`."""
        return window if interval == "step" else window // self.steps_per_epoch

    def batches(self, ticks: int, interval: str) -> int:
        return ticks if interval == "step" else ticks * self.steps_per_epoch


def build_schedule(
    sched: Mapping, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int
) -> Schedule:
    """Build the schedule tree `sched` (a plain mapping) for `optimizer` over a whole run."""
    ctx = _Context(optimizer, steps_per_epoch)
    return Schedule(_build(sched, "sched", ctx, epochs * steps_per_epoch, "epoch"), optimizer)


def expected_lrs(
    sched: Mapping,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    steps_per_epoch: int,
    metrics: Mapping[str, Sequence[float]] | None = None,
) -> tuple[list[float], list[float]]:
    """The learning rate of the first group per epoch and per batch, without training.

    `optimizer` is only read and driven, so pass a throw-away one. Plateau leaves see `metrics`
    (a history per name); without them the watched metric stays flat, so it never improves.
    """
    schedule = build_schedule(sched, optimizer, epochs, steps_per_epoch)
    return simulate(schedule, epochs, steps_per_epoch, metrics)


def expected_group_lrs(
    sched: Mapping,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    steps_per_epoch: int,
    metrics: Mapping[str, Sequence[float]] | None = None,
) -> tuple[list[list[float]], list[list[float]]]:
    """As `expected_lrs`, for every param group: a curve per group, per epoch and per batch."""
    schedule = build_schedule(sched, optimizer, epochs, steps_per_epoch)
    return simulate_groups(schedule, epochs, steps_per_epoch, metrics)


def _build(sched: Any, path: str, ctx: _Context, window: int, interval: str, shadow=None):
    """The node for `sched`, which lasts `window` batches and inherits `interval`.

    A leaf drives its own shadow optimizer, or `shadow` when it shares one with its chain.
    """
    if not isinstance(sched, Mapping):
        raise fail(
            path, f"got {sched!r}; allowed: a schedule (a mapping with type, chain or sequence)"
        )
    interval = sched.get("interval", interval)
    if interval not in INTERVALS:
        raise fail(f"{path}.interval", f"got {interval!r}; allowed: {', '.join(INTERVALS)}")
    kinds = [k for k in KINDS if k in sched]
    if len(kinds) != 1:
        raise fail(
            path,
            f"found {kinds or 'none'}; allowed: exactly one of type (a torch scheduler),"
            " chain (factors multiply) or sequence (members in turn)",
        )
    if kinds[0] == "type":
        length = ctx.ticks(window, interval)
        return build_leaf(sched, path, ctx.optimizer, length, interval, shadow)
    _check_node_keys(sched, kinds[0], path)
    members = _members(sched, kinds[0], path)
    if kinds[0] == "chain":
        return _build_chain(sched, members, path, ctx, window, interval)
    return _build_sequence(sched, members, path, ctx, window, interval)


def _check_node_keys(sched: Mapping, kind: str, path: str) -> None:
    allowed = NODE_KEYS[kind]
    for key in sched:
        if key not in allowed:
            owner = next((k for k, keys in NODE_KEYS.items() if key in keys), None)
            hint = f" (a {owner} has it)" if owner else did_you_mean(key, allowed)
            raise fail(
                f"{path}.{key}", f"a {kind} takes no {key!r}{hint}; allowed: {', '.join(allowed)}"
            )


def _members(sched: Mapping, key: str, path: str) -> list[tuple[str, Any]]:
    members = sched[key]
    if isinstance(members, Mapping):
        items = [(str(k), v) for k, v in members.items()]
    elif isinstance(members, Sequence) and not isinstance(members, str):
        items = [(str(i), v) for i, v in enumerate(members)]
    else:
        raise fail(f"{path}.{key}", f"got {members!r}; allowed: a mapping of named members")
    if not items:
        raise fail(f"{path}.{key}", f"an empty {key}; allowed: at least one member")
    return items


def _build_chain(sched, members, path, ctx, window, interval) -> ChainNode:
    compose = sched.get("compose", "multiply")
    if compose not in COMPOSE:
        allowed = ", ".join(f"{k} ({v})" for k, v in COMPOSE.items())
        raise fail(f"{path}.compose", f"got {compose!r}; allowed: {allowed}")
    shadow = shadow_optimizer(ctx.optimizer) if compose == "pytorch" else None
    built = []
    for key, member in members:
        where = f"{path}.chain.{key}"
        if shadow is not None and not (isinstance(member, Mapping) and "type" in member):
            raise fail(
                where,
                "compose: pytorch steps torch schedulers on one optimizer, as ChainedScheduler"
                " does; allowed: leaves (a mapping with type) as its members",
            )
        built.append(_build(member, where, ctx, window, interval, shadow))
    return ChainNode(built, ctx.base_lrs, compose)


def _build_sequence(sched, members, path, ctx, window, interval) -> SequenceNode:
    where, given, need = f"{path}.milestones", sched.get("milestones"), len(members) - 1
    milestones = check_increasing(given, where) if need else []
    if len(milestones) != need or (not need and given):
        raise fail(
            where, f"got {given!r}; allowed: {need} milestones for a sequence of {need + 1} members"
        )
    length = ctx.ticks(window, interval)
    if milestones and milestones[-1] >= length:
        raise fail(
            where,
            f"{milestones!r} do not fit: the sequence lasts {length} {interval}s;"
            f" allowed: milestones below {length}",
        )
    bounds = [0, *milestones, length]
    built = [
        _build(s, f"{path}.sequence.{k}", ctx, ctx.batches(hi - lo, interval), interval)
        for (k, s), lo, hi in zip(members, bounds, bounds[1:], strict=False)
    ]
    return SequenceNode(built, milestones, interval)
