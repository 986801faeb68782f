"""Learning-rate schedules as trees: leaves are torch schedulers, nodes chain or sequence them.

A leaf drives a real `torch.optim.lr_scheduler` class on a shadow optimizer that mirrors the
real one's param groups; nodes combine the shadow learning rates: a `chain` multiplies its
members' factors (as `ChainedScheduler`), a `sequence` hands over to the next member at each
milestone, which starts from its own step 0 (as `SequentialLR`). Nodes nest to any depth.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.optim import lr_scheduler

from lrchain.errors import ConfigError

# The scheduler classes a config may name; nothing else is ever built from a config.
KNOWN = (
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
INTERVALS = ("epoch", "step")
MONITORED = ("train/loss", "val/loss", "val/acc")  # metrics the engine hands to plateau leaves
AUTO_LENGTH = ("T_max", "total_iters", "total_steps")  # arguments that accept `auto`
POSITIVE = ("gamma", "step_size", "T_max", "T_0", "total_iters", "total_steps", "max_lr")
LEAF_KEYS = ("name", "interval", "type", "monitor")  # lrchain's own keys; the rest are arguments
CYCLES_MOMENTUM = ("OneCycleLR", "CyclicLR")


class ScheduleError(ConfigError):
    """A schedule config that cannot be built; the message names the config path."""


def _fail(path: str, message: str) -> ScheduleError:
    return ScheduleError(f"{path}: {message}")


def _members(node: Mapping, key: str, path: str) -> list[tuple[str, Any]]:
    members = node[key]
    if isinstance(members, Mapping):
        items = [(str(k), v) for k, v in members.items()]
    elif isinstance(members, Sequence) and not isinstance(members, str):
        items = [(str(i), v) for i, v in enumerate(members)]
    else:
        raise _fail(f"{path}.{key}", f"expected a mapping of named members, got {members!r}")
    if not items:
        raise _fail(f"{path}.{key}", f"an empty {key}; give it at least one member")
    return items


class _Leaf:
    """One torch scheduler on a shadow optimizer."""

    def __init__(self, node: Mapping, path: str, ctx: _Context, window: int, interval: str):
        name = node["type"]
        if name not in KNOWN:
            raise _fail(
                f"{path}.type", f"unknown scheduler {name!r}; known schedulers: {', '.join(KNOWN)}"
            )
        cls = getattr(lr_scheduler, name)
        self.name, self.interval, self.path = name, interval, path
        self.monitor = node.get("monitor")
        args = {k: v for k, v in node.items() if k not in LEAF_KEYS}
        args = self._check_args(cls, args, path, ctx, window, interval)
        if name == "ReduceLROnPlateau":
            self._check_plateau(path, interval)
            args.setdefault("mode", "max" if self.monitor.endswith("acc") else "min")
        elif self.monitor is not None:
            raise _fail(f"{path}.monitor", f"only ReduceLROnPlateau watches a metric, not {name}")
        self.optimizer = _shadow(ctx.optimizer)
        try:
            self.scheduler = cls(self.optimizer, **args)
        except (ValueError, TypeError) as err:
            raise _fail(path, f"{name}({_show(args)}) is refused by PyTorch: {err}") from None
        self.cycles_momentum = name in CYCLES_MOMENTUM and args.get("cycle_momentum", True)

    def _check_args(self, cls, args, path, ctx, window, interval) -> dict:
        params = inspect.signature(cls.__init__).parameters
        allowed = [p for p in params if p not in ("self", "optimizer", "last_epoch", "verbose")]
        for key, value in args.items():
            if key not in allowed:
                raise _fail(
                    f"{path}.{key}",
                    f"{cls.__name__} takes no argument {key!r}; it takes: {', '.join(allowed)}"
                    " (and lrchain's interval"
                    + (", monitor" if cls.__name__ == "ReduceLROnPlateau" else "")
                    + ")",
                )
            if value == "auto":
                if key not in AUTO_LENGTH:
                    raise _fail(f"{path}.{key}", f"'auto' works only for {', '.join(AUTO_LENGTH)}")
                args[key] = ctx.ticks(window, interval)
                if args[key] < 1:
                    raise _fail(
                        f"{path}.{key}", f"'auto' gives a length of {args[key]} {interval}s"
                    )
            elif key in POSITIVE and not (isinstance(value, (int, float)) and value > 0):
                raise _fail(f"{path}.{key}", f"must be a positive number, got {value!r}")
        if cls.__name__ == "OneCycleLR" and "total_steps" not in args:
            raise _fail(
                f"{path}.total_steps",
                "OneCycleLR needs the length of its cycle: set total_steps: auto (lrchain counts"
                " the batches of the run) or a number",
            )
        missing = [
            p
            for p in allowed
            if params[p].default is inspect.Parameter.empty
            and params[p].kind is params[p].POSITIONAL_OR_KEYWORD
            and p not in args
        ]
        if missing:
            hint = " (auto: the rest of the run)" if set(missing) & set(AUTO_LENGTH) else ""
            raise _fail(f"{path}", f"{cls.__name__} needs {', '.join(missing)}{hint}")
        if "milestones" in args:
            _check_increasing(args["milestones"], f"{path}.milestones")
        return args

    def _check_plateau(self, path: str, interval: str) -> None:
        if self.monitor not in MONITORED:
            raise _fail(
                f"{path}.monitor",
                f"ReduceLROnPlateau needs the metric it watches: monitor is {self.monitor!r},"
                f" allowed: {', '.join(MONITORED)}",
            )
        if interval != "epoch":
            raise _fail(f"{path}.interval", "ReduceLROnPlateau steps per epoch, after evaluation")

    def on_event(self, kind: str, metrics: Mapping[str, float] | None) -> None:
        if kind != self.interval:
            return
        if self.name == "ReduceLROnPlateau":
            self.scheduler.step(metrics[self.monitor])
        else:
            self.scheduler.step()

    def values(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def momenta(self) -> list[dict] | None:
        if not self.cycles_momentum:
            return None
        keys = ("momentum", "betas")
        return [{k: g[k] for k in keys if k in g} for g in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        groups = [
            {k: v for k, v in g.items() if k != "params"} for g in self.optimizer.param_groups
        ]
        return {"scheduler": self.scheduler.state_dict(), "groups": groups}

    def load_state_dict(self, state: Mapping) -> None:
        self.scheduler.load_state_dict(state["scheduler"])
        for group, saved in zip(self.optimizer.param_groups, state["groups"], strict=True):
            group.update(saved)


class _Chain:
    """Members stepped together; their factors multiply."""

    def __init__(self, members: list, base: list[float]):
        self.members, self.base = members, base

    def on_event(self, kind: str, metrics: Mapping[str, float] | None) -> None:
        for member in self.members:
            member.on_event(kind, metrics)

    def values(self) -> list[float]:
        factors = [1.0] * len(self.base)
        for member in self.members:
            factors = [
                f * v / b for f, v, b in zip(factors, member.values(), self.base, strict=True)
            ]
        return [b * f for b, f in zip(self.base, factors, strict=True)]

    def momenta(self) -> list[dict] | None:
        found = [m.momenta() for m in self.members]
        return next((m for m in reversed(found) if m is not None), None)

    def state_dict(self) -> dict:
        return {"members": [m.state_dict() for m in self.members]}

    def load_state_dict(self, state: Mapping) -> None:
        for member, saved in zip(self.members, state["members"], strict=True):
            member.load_state_dict(saved)


class _Sequence:
    """Members in turn: at each milestone (counted in its own interval) the next one starts."""

    def __init__(self, members: list, milestones: list[int], interval: str):
        self.members, self.milestones, self.interval = members, milestones, interval
        self.count, self.active = 0, 0
        self.fresh = False  # a member just took over and has not yet lived one tick

    def on_event(self, kind: str, metrics: Mapping[str, float] | None) -> None:
        if kind == self.interval:
            self.count += 1
            self.fresh = False
            nxt = self.active
            if nxt < len(self.milestones) and self.count == self.milestones[nxt]:
                self.active += 1  # the next member starts at its own step 0, unstepped
                self.fresh = True
                return
        elif self.fresh:
            return  # an epoch ending at the very batch of the hand-over belongs to the last member
        self.members[self.active].on_event(kind, metrics)

    def values(self) -> list[float]:
        return self.members[self.active].values()

    def momenta(self) -> list[dict] | None:
        return self.members[self.active].momenta()

    def state_dict(self) -> dict:
        members = [m.state_dict() for m in self.members]
        return {"count": self.count, "active": self.active, "fresh": self.fresh, "members": members}

    def load_state_dict(self, state: Mapping) -> None:
        self.count, self.active, self.fresh = state["count"], state["active"], state["fresh"]
        for member, saved in zip(self.members, state["members"], strict=True):
            member.load_state_dict(saved)


class _Context:
    """What building needs to know about the run: its optimizer and length in batches."""

    def __init__(self, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int):
        self.optimizer, self.epochs, self.steps_per_epoch = optimizer, epochs, steps_per_epoch

    def ticks(self, window: int, interval: str) -> int:
        """A window of batches counted in steps of `interval`."""
        return window if interval == "step" else window // self.steps_per_epoch

    def batches(self, ticks: int, interval: str) -> int:
        return ticks if interval == "step" else ticks * self.steps_per_epoch


def _check_increasing(values: Any, path: str) -> list[int]:
    if not isinstance(values, Sequence) or isinstance(values, str) or not values:
        raise _fail(path, f"expected a list of increasing whole numbers, got {values!r}")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise _fail(path, f"expected whole numbers, got {list(values)!r}")
    if any(b <= a for a, b in zip(values, values[1:], strict=False)) or values[0] <= 0:
        raise _fail(path, f"must be positive and strictly increasing, got {list(values)!r}")
    return list(values)


def _build(node: Any, path: str, ctx: _Context, window: int, interval: str):
    if not isinstance(node, Mapping):
        raise _fail(
            path, f"expected a schedule (a mapping with type, chain or sequence), got {node!r}"
        )
    interval = node.get("interval", interval)
    if interval not in INTERVALS:
        raise _fail(f"{path}.interval", f"{interval!r} is not one of {', '.join(INTERVALS)}")
    kinds = [k for k in ("type", "chain", "sequence") if k in node]
    if len(kinds) != 1:
        raise _fail(
            path,
            "a schedule has exactly one of type (a torch scheduler), chain (factors multiply)"
            f" or sequence (members in turn); found {kinds or 'none'}",
        )
    if "milestones" in node and kinds[0] == "chain":
        raise _fail(f"{path}.milestones", "a chain has no milestones; did you mean sequence?")
    if kinds[0] == "type":
        return _Leaf(node, path, ctx, window, interval)
    members = _members(node, kinds[0], path)
    if kinds[0] == "chain":
        built = [_build(n, f"{path}.chain.{k}", ctx, window, interval) for k, n in members]
        return _Chain(built, [g["lr"] for g in ctx.optimizer.param_groups])
    return _build_sequence(node, members, path, ctx, window, interval)


def _build_sequence(node, members, path, ctx, window, interval) -> _Sequence:
    where, given, need = f"{path}.milestones", node.get("milestones"), len(members) - 1
    milestones = _check_increasing(given, where) if need else []
    if len(milestones) != need or (not need and given):
        raise _fail(
            where, f"a sequence of {need + 1} members needs {need} milestones, got {given!r}"
        )
    length = ctx.ticks(window, interval)
    if milestones and milestones[-1] >= length:
        raise _fail(
            where,
            f"{milestones!r} do not fit: the sequence lasts {length} {interval}s,"
            f" so every milestone must be below {length}",
        )
    bounds = [0, *milestones, length]
    built = [
        _build(n, f"{path}.sequence.{k}", ctx, ctx.batches(hi - lo, interval), interval)
        for (k, n), lo, hi in zip(members, bounds, bounds[1:], strict=False)
    ]
    return _Sequence(built, milestones, interval)


def _shadow(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """An optimizer of the same kind and hyperparameters, over empty tensors."""
    groups = [
        {k: v for k, v in g.items() if k not in ("params", "initial_lr")}
        | {"params": [torch.zeros(0, requires_grad=True)]}
        for g in optimizer.param_groups
    ]
    shadow = type(optimizer)(groups)
    shadow._opt_called = True  # type: ignore[attr-defined]  # it never steps; silence torch's order warning
    return shadow


def _show(args: Mapping) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in args.items())


class Schedule:
    """A schedule tree driving one optimizer: call on_batch_end and on_epoch_end."""

    def __init__(self, root, optimizer: torch.optim.Optimizer, uses_steps: bool):
        self.root, self.optimizer, self.uses_steps = root, optimizer, uses_steps
        self._apply()

    def on_batch_end(self) -> None:
        self.root.on_event("step", None)
        self._apply()

    def on_epoch_end(self, metrics: Mapping[str, float] | None = None) -> None:
        self.root.on_event("epoch", metrics or {})
        self._apply()

    def lrs(self) -> list[float]:
        return self.root.values()

    def _apply(self) -> None:
        momenta = self.root.momenta()
        for i, (group, lr) in enumerate(zip(self.optimizer.param_groups, self.lrs(), strict=True)):
            group["lr"] = lr
            if momenta is not None:
                group.update(momenta[i])

    def state_dict(self) -> dict:
        return {"root": self.root.state_dict()}

    def load_state_dict(self, state: Mapping) -> None:
        self.root.load_state_dict(state["root"])
        self._apply()


def _uses(node: Any, interval: str, inherited: str) -> bool:
    if not isinstance(node, Mapping):
        return False
    mine = node.get("interval", inherited)
    if "type" in node:
        return mine == interval
    key = "chain" if "chain" in node else "sequence"
    members = node.get(key) or {}
    children = members.values() if isinstance(members, Mapping) else members
    own = key == "sequence" and mine == interval
    return own or any(_uses(c, interval, mine) for c in children)


def build_schedule(
    sched: Mapping, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int
) -> Schedule:
    """Build the schedule tree `sched` (a plain mapping) for `optimizer` over a whole run."""
    ctx = _Context(optimizer, epochs, steps_per_epoch)
    root = _build(sched, "sched", ctx, epochs * steps_per_epoch, "epoch")
    return Schedule(root, optimizer, uses_steps=_uses(sched, "step", "epoch"))


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
    per_epoch, per_step = [], []
    for epoch in range(epochs):
        per_epoch.append(schedule.lrs()[0])
        if schedule.uses_steps:
            for _ in range(steps_per_epoch):
                per_step.append(schedule.lrs()[0])
                schedule.on_batch_end()
        seen = {k: v[epoch] for k, v in (metrics or {}).items() if epoch < len(v)}
        schedule.on_epoch_end({m: seen.get(m, 0.0) for m in MONITORED} | seen)
    return per_epoch, per_step
