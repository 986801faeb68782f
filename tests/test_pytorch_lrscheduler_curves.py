"""PyTorch's TestLRScheduler, ported: single schedulers, closed forms and SequentialLR cases.

Each test is named as PyTorch's case; its targets are that case's own expressions.
"""

from __future__ import annotations

import math
import warnings

import torch
from test_pytorch_lrscheduler import run_epochs, setup_optimizer
from torch import nn
from torch.optim import lr_scheduler as S

from lrchain.schedules import build_schedule

STEP = {"type": "StepLR", "gamma": 0.1, "step_size": 3}
MULTISTEP = {"type": "MultiStepLR", "gamma": 0.1, "milestones": [2, 5, 9]}
HALF_FOR_5 = {"type": "ConstantLR", "factor": 1.0 / 2, "total_iters": 5}


def test_step_lr():
    epochs = 10
    single_targets = [0.05] * 3 + [0.005] * 3 + [0.0005] * 3 + [0.00005] * 3
    targets = [single_targets, [x * epochs for x in single_targets]]
    run_epochs(STEP, targets, epochs)


def test_get_last_lr_step_lr():
    optimizer = torch.optim.SGD([nn.Parameter(torch.randn(2, 2, requires_grad=True))], 0.1)
    targets = [[0.1] * 3 + [0.01] * 3 + [0.001] * 3 + [0.0001]]
    run_epochs({"type": "StepLR", "step_size": 3, "gamma": 0.1}, targets, 10, optimizer)


def test_get_last_lr_multi_step_lr():
    epochs = 10
    single_targets = [0.05] * 2 + [0.005] * 3 + [0.0005] * 4 + [0.00005] * 1
    run_epochs(MULTISTEP, [single_targets, [x * epochs for x in single_targets]], epochs)


def test_multi_step_lr():
    epochs = 10
    single_targets = [0.05] * 2 + [0.005] * 3 + [0.0005] * 4 + [0.00005] * 3
    run_epochs(MULTISTEP, [single_targets, [x * epochs for x in single_targets]], epochs)


def test_get_last_lr_constantlr():
    epochs = 10
    single_targets = [0.025] * 5 + [0.05] * 5
    run_epochs(HALF_FOR_5, [single_targets, [x * epochs for x in single_targets]], epochs)


def test_constantlr():
    epochs = 10
    single_targets = [0.025] * 5 + [0.05] * 5
    run_epochs(HALF_FOR_5, [single_targets, [x * epochs for x in single_targets]], epochs)


def test_get_last_lr_linearlr():
    epochs, start_factor, end_factor, iters = 10, 1.0 / 4, 3.0 / 5, 4
    interpolation = [start_factor + i * (end_factor - start_factor) / iters for i in range(iters)]
    single_targets = [x * 0.05 for x in interpolation] + [0.05 * end_factor] * (epochs - iters)
    targets = [single_targets, [x * epochs for x in single_targets]]
    tree = {"type": "LinearLR", "start_factor": start_factor, "end_factor": end_factor}
    run_epochs(tree | {"total_iters": iters}, targets, epochs)


def test_linearlr():
    epochs, start_factor, iters = 10, 1.0 / 2, 4
    interpolation = [start_factor + i * (1 - start_factor) / iters for i in range(iters)]
    single_targets = [x * 0.05 for x in interpolation] + [0.05] * (epochs - iters)
    targets = [single_targets, [x * epochs for x in single_targets]]
    run_epochs(
        {"type": "LinearLR", "start_factor": start_factor, "total_iters": iters}, targets, 10
    )


def test_exp_lr():
    epochs = 10
    single_targets = [0.05 * (0.9**x) for x in range(epochs)]
    targets = [single_targets, [x * epochs for x in single_targets]]
    run_epochs({"type": "ExponentialLR", "gamma": 0.9}, targets, epochs)


def test_poly_lr():
    epochs, power, total_iters = 10, 0.9, 5
    single_targets = [(1.0 - x / total_iters) ** power * 0.05 for x in range(total_iters)] + [
        0.0
    ] * (epochs - total_iters)
    targets = [single_targets, [x * epochs for x in single_targets]]
    run_epochs({"type": "PolynomialLR", "power": power, "total_iters": total_iters}, targets, 10)


def test_cos_anneal_lr():
    epochs, eta_min = 10, 1e-10
    single_targets = [
        eta_min + (0.05 - eta_min) * (1 + math.cos(math.pi * x / epochs)) / 2 for x in range(epochs)
    ]
    targets = [single_targets, [x * epochs for x in single_targets]]
    run_epochs({"type": "CosineAnnealingLR", "T_max": epochs, "eta_min": eta_min}, targets, 10)


def closed_form(tree: dict, make, epochs: int = 20) -> None:
    """PyTorch's `_test_against_closed_form`, as it is meant: epoch e's lr is the closed form's.

    As written upstream it asserts nothing: `self.setUp()` rebinds `self.opt`, so two fresh
    optimizers are compared. Here the targets are the closed form's own numbers (`step(epoch)`
    on a reference optimizer), and lrchain's recursive stepping must reach them.
    """
    reference = setup_optimizer()
    scheduler = make(reference)
    targets = [[], []]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # step(epoch) is deprecated: it is the closed form here
        for epoch in range(epochs):
            reference.step()
            scheduler.step(epoch)
            for target, group in zip(targets, reference.param_groups, strict=True):
                target.append(float(group["lr"]))
    run_epochs(tree, targets, epochs)


def test_closed_form_step_lr():
    closed_form(STEP, lambda o: S.StepLR(o, gamma=0.1, step_size=3))


def test_closed_form_linearlr():
    tree = {"type": "LinearLR", "start_factor": 1.0 / 3, "end_factor": 0.7, "total_iters": 4}
    closed_form(tree, lambda o: S.LinearLR(o, start_factor=1.0 / 3, end_factor=0.7, total_iters=4))


def test_closed_form_constantlr():
    tree = {"type": "ConstantLR", "factor": 1.0 / 3, "total_iters": 4}
    closed_form(tree, lambda o: S.ConstantLR(o, factor=1.0 / 3, total_iters=4))


def test_closed_form_multi_step_lr():
    closed_form(MULTISTEP, lambda o: S.MultiStepLR(o, gamma=0.1, milestones=[2, 5, 9]))


def test_closed_form_exp_lr():
    closed_form({"type": "ExponentialLR", "gamma": 0.9}, lambda o: S.ExponentialLR(o, gamma=0.9))


def test_closed_form_poly_lr():
    closed_form({"type": "PolynomialLR", "power": 0.9}, lambda o: S.PolynomialLR(o, power=0.9))


def test_closed_form_cos_anneal_lr():
    tree = {"type": "CosineAnnealingLR", "T_max": 5, "eta_min": 1e-10}
    closed_form(tree, lambda o: S.CosineAnnealingLR(o, T_max=5, eta_min=1e-10))


CONSTANT_01_3 = {"type": "ConstantLR", "factor": 0.1, "total_iters": 3}


def test_sequentiallr1():
    targets = [
        [0.05, 0.04, 0.032]
        + [0.05 for x in range(4)]
        + [0.05 * 0.1 for x in range(4)]
        + [0.05 * 0.01 for x in range(4)]
        + [0.05 * 0.001 for x in range(4)]
    ]
    members = {"exp": {"type": "ExponentialLR", "gamma": 0.8}, "step": STEP | {"step_size": 4}}
    run_epochs({"sequence": members, "milestones": [3]}, targets, 19)


def test_sequentiallr2():
    targets = [[0.005, 0.005, 0.005] + [0.05 * 0.9**x for x in range(10)]]
    members = {"constant": CONSTANT_01_3, "exp": {"type": "ExponentialLR", "gamma": 0.9}}
    run_epochs({"sequence": members, "milestones": [3]}, targets, 13)


SEQUENCE_3 = {
    "sequence": {
        "constant": CONSTANT_01_3,
        "exp": {"type": "ExponentialLR", "gamma": 0.8},
        "step": STEP | {"step_size": 2},
    },
    "milestones": [3, 6],
}


def test_sequentiallr3():
    targets = [
        [0.005, 0.005, 0.005] + [0.05, 0.04, 0.032] + [0.05, 0.05, 0.005, 0.005, 0.0005, 0.0005]
    ]
    run_epochs(SEQUENCE_3, targets, 12)


def test_get_last_lr_sequentiallr():
    constant_lr_target = [0.005] * 3
    exponential_lr_target = [0.05, 0.04, 0.032]
    step_lr_target = [0.05, 0.05, 0.005, 0.005, 0.0005, 0.0005]
    single_targets = constant_lr_target + exponential_lr_target + step_lr_target
    run_epochs(SEQUENCE_3, [single_targets, [x * 10 for x in single_targets]], 12)


def test_sequentiallr4():
    optimizer = torch.optim.SGD([torch.tensor(0.5)], lr=0.1)
    prev_lr = optimizer.param_groups[0]["lr"]
    members = {
        "a": {"type": "ConstantLR", "factor": 1},
        "b": {"type": "ConstantLR", "factor": 0.1},
    }
    schedule = build_schedule({"sequence": members, "milestones": [10]}, optimizer, 20, 1)
    # building several members does not move the initial learning rate
    assert optimizer.param_groups[0]["lr"] == prev_lr == schedule.lrs()[0]


def test_sequentiallr5():
    targets = [[0.0005, 0.0014, 0.0023, 0.0032, 0.0041] + [0.025, 0.025, 0.025, 0.025, 0.025]]
    chained = {
        "lin": {"type": "LinearLR", "start_factor": 0.1, "total_iters": 5},
        "const": {"type": "ConstantLR", "factor": 0.1, "total_iters": 5},
    }
    const2 = {"type": "ConstantLR", "factor": 0.5, "total_iters": 5}
    tree = {"sequence": {"chained": {"chain": chained}, "const2": const2}, "milestones": [5]}
    run_epochs(tree, targets, 10)


def test_sequentiallr_no_warnings():
    linear = {"type": "LinearLR", "start_factor": 0.5, "end_factor": 0.1, "total_iters": 5}
    members = {"linear": linear, "exp": {"type": "ExponentialLR", "gamma": 0.9}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the case
        schedule = build_schedule(
            {"sequence": members, "milestones": [5]}, setup_optimizer(), 10, 1
        )
        for _ in range(10):
            schedule.on_epoch_end()


def test_sequentiallr_does_not_alias_lr_and_initial_lr():
    net = nn.Sequential(nn.Conv2d(1, 1, 1), nn.Conv2d(1, 1, 1))
    optimizer = torch.optim.SGD(net.parameters(), lr=torch.tensor(2.0))  # PyTorch issue 162359
    milestone, epochs = 4, 8
    start, end = 0.1, 0.8
    members = {
        "up": {"type": "LinearLR", "start_factor": start, "end_factor": end},
        "down": {"type": "LinearLR", "start_factor": end, "end_factor": start},
    }
    members["up"]["total_iters"] = milestone
    members["down"]["total_iters"] = epochs - milestone
    targets = [[0.2, 0.55, 0.9, 1.25, 1.6, 1.25, 0.9, 0.55]]
    tree = {"sequence": members, "milestones": [milestone]}
    run_epochs(tree, targets, epochs, optimizer)
