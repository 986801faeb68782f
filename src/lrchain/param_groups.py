"""Param groups from the config: the body, and the head (the final nn.Linear) with its own rate.

`optim.head_lr` null: one group at `optim.lr`. Set: group 0 is the body at `optim.lr`, group 1
the head at `optim.head_lr`; its lr is logged as `lr/head` beside `lr` (the body's).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from lrchain.contract import BODY, HEAD, LR

# Rate arguments a leaf takes as one number or one per group: one number is the body's, and the
# head's is scaled by head_lr / lr, so the head keeps its ratio to the body through the schedule.
RATES = ("base_lr", "max_lr", "min_lr")
SCHEDULE_KINDS = ("chain", "sequence")


def head_lr(optim: Mapping) -> float | None:
    """The head's own base rate, or None when it trains with the body."""
    return optim.get("head_lr")


def group_names(optim: Mapping) -> list[str]:
    """The names of the param groups `optim` asks for, group 0 first."""
    return [BODY] if head_lr(optim) is None else [BODY, HEAD]


def head_layer(model: nn.Module) -> nn.Linear:
    """The model's final dense layer: the last nn.Linear it registers (cnn, mlp, resnet18's fc)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer to be its head")
    return linears[-1]


def param_groups(optim: Mapping, model: nn.Module) -> list[dict[str, Any]]:
    """The model's parameters as the optimizer's groups: all in one, or body and head."""
    if head_lr(optim) is None:
        return [{"params": list(model.parameters())}]
    head = {id(p) for p in head_layer(model).parameters()}
    body = [p for p in model.parameters() if id(p) not in head]
    return [
        {"params": body, "name": BODY},
        {"params": list(head_layer(model).parameters()), "lr": head_lr(optim), "name": HEAD},
    ]


def scratch_groups(optim: Mapping) -> list[dict[str, Any]]:
    """The same groups over empty tensors: drive a schedule without a model or data."""
    if head_lr(optim) is None:
        return [{"params": [torch.zeros(0, requires_grad=True)]}]
    return [
        {"params": [torch.zeros(0, requires_grad=True)], "name": BODY},
        {"params": [torch.zeros(0, requires_grad=True)], "lr": head_lr(optim), "name": HEAD},
    ]


def lr_keys(optimizer: torch.optim.Optimizer) -> list[str]:
    """The metric of each group's lr: `lr` for group 0, `lr/NAME` (`lr/head`) for the others."""
    return [
        LR if i == 0 else f"{LR}/{group.get('name', f'group{i}')}"
        for i, group in enumerate(optimizer.param_groups)
    ]


def sched_for_groups(sched: Any, optim: Mapping) -> Any:
    """`sched` with each one-number rate argument (RATES) made a list [body, head].

    The head's value is the body's times head_lr / lr; lists and other values are left as they
    are (the builder checks them). Without a head, `sched` itself.
    """
    if head_lr(optim) is None or not isinstance(sched, Mapping):
        return sched
    ratio = head_lr(optim) / optim["lr"]
    return _scaled(sched, ratio)


def _scaled(node: Any, ratio: float) -> Any:
    if not isinstance(node, Mapping):
        return node
    out = dict(node)
    if "type" in node:
        for key in RATES:
            if _is_number(node.get(key)):
                out[key] = [node[key], node[key] * ratio]
        return out
    for kind in SCHEDULE_KINDS:
        members = node.get(kind)
        if isinstance(members, Mapping):
            out[kind] = {k: _scaled(v, ratio) for k, v in members.items()}
        elif isinstance(members, list):
            out[kind] = [_scaled(v, ratio) for v in members]
    return out


def _is_number(value: Any) -> bool:
    # a negative or non-finite value stays as written, so the builder's message shows the user's
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )
