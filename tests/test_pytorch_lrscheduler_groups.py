"""Param groups against PyTorch: tensor rates kept and never shared, per-group argument lists."""

from __future__ import annotations

import pytest
import torch
from torch.optim import lr_scheduler as S

from lrchain.schedules import build_schedule, expected_lrs

LR = 0.1
EXP = {"type": "ExponentialLR", "gamma": 0.9}


def two_groups(second_lr) -> torch.optim.Optimizer:
    first = {"params": [torch.zeros(1, requires_grad=True)]}
    second = {"params": [torch.zeros(1, requires_grad=True)], "lr": second_lr}
    return torch.optim.SGD([first, second], lr=LR, momentum=0.9)


def test_a_tensor_lr_is_copied_never_shared():
    reference = two_groups(torch.tensor(0.5))
    scheduler = S.SequentialLR(
        reference,
        [S.LinearLR(reference, start_factor=0.1, total_iters=3), S.ExponentialLR(reference, 0.9)],
        milestones=[3],
    )
    users = torch.tensor(0.5)
    opt = two_groups(users)
    tree = {
        "sequence": {
            "warm": {"type": "LinearLR", "start_factor": 0.1, "total_iters": "auto"},
            "decay": EXP,
        },
        "milestones": [3],
    }
    schedule = build_schedule(tree, opt, 10, 1)
    for epoch in range(10):
        want = [float(g["lr"]) for g in reference.param_groups]
        got = schedule.lrs()
        assert all(type(lr) is float for lr in got)
        assert got == want, f"epoch {epoch}"
        assert [float(g["lr"]) for g in opt.param_groups] == want
        assert opt.param_groups[1]["lr"] is users  # written in place, as torch's schedulers do
        users.fill_(123.0)  # nothing done to the user's tensor reaches the schedule
        reference.step()
        scheduler.step()
        schedule.on_epoch_end()
    per_epoch, _ = expected_lrs(EXP, torch.optim.SGD([torch.zeros(1)], lr=users), 5, 1)
    assert all(type(lr) is float for lr in per_epoch)


def test_groups_sharing_one_tensor_lr_each_get_their_own_rate():
    shared = torch.tensor(0.1)  # an optimizer's default lr: every group without its own holds it
    groups = [{"params": [torch.zeros(1, requires_grad=True)]} for _ in range(2)]
    opt = torch.optim.SGD(groups, lr=shared)
    tree = {"type": "CyclicLR", "base_lr": [0.01, 0.02], "max_lr": [0.1, 0.2], "step_size_up": 2}
    schedule = build_schedule(tree, opt, 4, 1)
    schedule.on_epoch_end()
    assert [float(g["lr"]) for g in opt.param_groups] == pytest.approx([0.055, 0.11])


def test_per_group_lists_give_each_group_pytorchs_numbers():
    reference = two_groups(0.5)
    scheduler = S.OneCycleLR(reference, max_lr=[0.3, 3.0], total_steps=20)
    opt = two_groups(0.5)
    tree = {"type": "OneCycleLR", "interval": "step", "max_lr": [0.3, 3.0], "total_steps": "auto"}
    schedule = build_schedule(tree, opt, 4, 5)
    for _ in range(20):
        assert schedule.lrs() == [g["lr"] for g in reference.param_groups]
        assert [g["momentum"] for g in opt.param_groups] == [
            g["momentum"] for g in reference.param_groups
        ]
        reference.step()
        scheduler.step()
        schedule.on_batch_end()
