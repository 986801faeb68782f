"""The runtime of a schedule tree: leaves drive torch schedulers, nodes combine their rates.

A leaf drives one `torch.optim.lr_scheduler` object on a shadow optimizer that mirrors the
real one's param groups; a chain multiplies its members' factors (each member's rate over the
base rate), or, with `compose: pytorch`, steps its leaves in turn on one shared shadow, exactly
as `ChainedScheduler`; a sequence hands over to the next member at each milestone, which starts
from its own step 0 (as `SequentialLR`). Nodes nest to any depth. Each node says whether it
steps per batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from lrchain.contract import MONITORED

Metrics = Mapping[str, float]


def shadow_optimizer(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """An optimizer of the same kind and hyperparameters, over empty tensors, sharing none."""
    groups = [
        {k: _copied(v) for k, v in g.items() if k not in ("params", "initial_lr")}
        | {"params": [torch.zeros(0, requires_grad=True)]}
        for g in optimizer.param_groups
    ]
    return type(optimizer)(groups)


def _copied(value: Any) -> Any:
    # torch schedulers write tensor hyperparameters in place: the user's must never be reached
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, tuple):
        return tuple(_copied(v) for v in value)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.item()
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


class LeafNode:
    """One torch scheduler on its own shadow optimizer."""

    def __init__(self, scheduler, interval: str, monitor: str | None, moves_momentum: bool):
        self.scheduler, self.optimizer = scheduler, scheduler.optimizer
        self.interval, self.monitor, self.moves_momentum = interval, monitor, moves_momentum
        self.uses_steps = interval == "step"
        # Torch warns when a scheduler steps before its optimizer ever did. The shadow has no
        # gradients, so this step changes nothing but tells torch the order is right.
        self.optimizer.step()

    def on_event(self, kind: str, metrics: Metrics | None) -> None:
        if kind != self.interval:
            return
        if self.monitor is not None:
            self.scheduler.step(metrics[self.monitor])
        else:
            self.scheduler.step()

    def values(self) -> list[float]:
        return [float(g["lr"]) for g in self.optimizer.param_groups]

    def momenta(self) -> list[dict] | None:
        if not self.moves_momentum:
            return None
        keys = ("momentum", "betas")
        return [{k: _plain(g[k]) for k in keys if k in g} for g in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        groups = [
            {k: _copied(v) for k, v in g.items() if k != "params"}
            for g in self.optimizer.param_groups
        ]
        return {"scheduler": self.scheduler.state_dict(), "groups": groups}

    def load_state_dict(self, state: Mapping) -> None:
        self.scheduler.load_state_dict(state["scheduler"])
        for group, saved in zip(self.optimizer.param_groups, state["groups"], strict=True):
            group.update(saved)


class ChainNode:
    """Members stepped together; their factors over the base learning rates multiply.

    With `compose="pytorch"` the members are leaves sharing one shadow optimizer: each steps
    the rate the ones before it left, as `ChainedScheduler` does, and the last one's rate is it.
    """

    def __init__(self, members: list, base_lrs: list[float], compose: str = "multiply"):
        self.members, self.base_lrs, self.compose = members, base_lrs, compose
        self.uses_steps = any(m.uses_steps for m in members)

    def on_event(self, kind: str, metrics: Metrics | None) -> None:
        for member in self.members:
            member.on_event(kind, metrics)

    def values(self) -> list[float]:
        if self.compose == "pytorch":
            return self.members[-1].values()  # the shared shadow, as the last member left it
        factors = [1.0] * len(self.base_lrs)
        for member in self.members:
            factors = [
                f * v / b for f, v, b in zip(factors, member.values(), self.base_lrs, strict=True)
            ]
        return [b * f for b, f in zip(self.base_lrs, factors, strict=True)]

    def momenta(self) -> list[dict] | None:
        found = [m.momenta() for m in self.members]
        return next((m for m in reversed(found) if m is not None), None)

    def state_dict(self) -> dict:
        return {"members": [m.state_dict() for m in self.members]}

    def load_state_dict(self, state: Mapping) -> None:
        for member, saved in zip(self.members, state["members"], strict=True):
            member.load_state_dict(saved)


class SequenceNode:
    """Members in turn: at each milestone (counted in its own interval) the next one starts."""

    def __init__(self, members: list, milestones: list[int], interval: str):
        self.members, self.milestones, self.interval = members, milestones, interval
        self.uses_steps = interval == "step" or any(m.uses_steps for m in members)
        self.count, self.active = 0, 0
        self.fresh = False  # a member just took over and has not yet lived one tick

    def on_event(self, kind: str, metrics: Metrics | None) -> None:
        if kind == self.interval:
            self.count += 1
            self.fresh = False
            following = self.active
            if following < len(self.milestones) and self.count == self.milestones[following]:
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


class Schedule:
    """A schedule tree driving one optimizer: call on_batch_end and on_epoch_end."""

    def __init__(self, root, optimizer: torch.optim.Optimizer):
        self.root, self.optimizer = root, optimizer
        self.uses_steps: bool = root.uses_steps
        _unshare_tensor_rates(optimizer)
        self._apply()

    def on_batch_end(self) -> None:
        self.root.on_event("step", None)
        self._apply()

    def on_epoch_end(self, metrics: Metrics | None = None) -> None:
        self.root.on_event("epoch", metrics or {})
        self._apply()

    def lrs(self) -> list[float]:
        return self.root.values()

    def _apply(self) -> None:
        momenta = self.root.momenta()
        for i, (group, lr) in enumerate(zip(self.optimizer.param_groups, self.lrs(), strict=True)):
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(lr)  # keep its type, as torch's schedulers do (compiled steps)
            else:
                group["lr"] = lr
            if momenta is not None:
                group.update(momenta[i])

    def state_dict(self) -> dict:
        return {"root": self.root.state_dict()}

    def load_state_dict(self, state: Mapping) -> None:
        self.root.load_state_dict(state["root"])
        self._apply()


def _unshare_tensor_rates(optimizer: torch.optim.Optimizer) -> None:
    """Give each group its own lr tensor: one shared by groups (an optimizer's default lr)
    cannot hold a rate per group."""
    seen = set()
    for group in optimizer.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            if id(group["lr"]) in seen:
                group["lr"] = group["lr"].detach().clone()
            seen.add(id(group["lr"]))


def simulate(
    schedule: Schedule,
    epochs: int,
    steps_per_epoch: int,
    metrics: Mapping[str, Sequence[float]] | None = None,
) -> tuple[list[float], list[float]]:
    """Drive `schedule` through a run without training: the first group's lr per epoch and batch.

    Plateau leaves see `metrics` (a history per name); a missing one stays flat, never improving.
    """
    per_epoch, per_step = simulate_groups(schedule, epochs, steps_per_epoch, metrics)
    return per_epoch[0], per_step[0]


def simulate_groups(
    schedule: Schedule,
    epochs: int,
    steps_per_epoch: int,
    metrics: Mapping[str, Sequence[float]] | None = None,
) -> tuple[list[list[float]], list[list[float]]]:
    """As `simulate`, for every param group: a curve per group, per epoch and per batch."""
    groups = len(schedule.lrs())
    per_epoch: list[list[float]] = [[] for _ in range(groups)]
    per_step: list[list[float]] = [[] for _ in range(groups)]
    for epoch in range(epochs):
        for curve, lr in zip(per_epoch, schedule.lrs(), strict=True):
            curve.append(lr)
        if schedule.uses_steps:
            for _ in range(steps_per_epoch):
                for curve, lr in zip(per_step, schedule.lrs(), strict=True):
                    curve.append(lr)
                schedule.on_batch_end()
        seen = {k: v[epoch] for k, v in (metrics or {}).items() if epoch < len(v)}
        schedule.on_epoch_end({m: seen.get(m, 0.0) for m in MONITORED} | seen)
    return per_epoch, per_step
