"""PyTorch's TestLRScheduler, ported: state dicts, refusals, warnings and tensor rates.

A schedule's state is `Schedule.state_dict()`; PyTorch's "a scheduler's __dict__" and
"get_last_lr()" checks become "the tree's state" and "lrs()". PyTorch's ValueError on bad
arguments becomes lrchain's ScheduleError, raised while building, before any run.
"""

from __future__ import annotations

import io
import pickle
import warnings
from collections.abc import Mapping

import pytest
import torch
from test_pytorch_lrscheduler import refused, setup_optimizer
from torch import nn

from lrchain.schedules import build_schedule


def plain(state):
    """A state with tensors as numbers, so that two states compare with ==."""
    if isinstance(state, torch.Tensor):
        return state.tolist()
    if isinstance(state, Mapping):
        return {k: plain(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(plain(v) for v in state)
    return state


def check_state_dict(tree: dict, tree2: dict, epochs: int = 10, metrics=None) -> None:
    """PyTorch's `_check_scheduler_state_dict`: `tree` stepped `epochs` times, its state loaded
    into `tree2` (other arguments, a fresh optimizer, as a resumed run builds it)."""
    schedule = build_schedule(tree, setup_optimizer(), epochs, 1)
    for epoch in range(epochs):
        schedule.on_epoch_end({"val/loss": metrics[epoch]} if metrics else None)
    copy = build_schedule(tree2, setup_optimizer(), epochs, 1)
    copy.load_state_dict(schedule.state_dict())
    assert plain(copy.state_dict()) == plain(schedule.state_dict())
    assert copy.lrs() == schedule.lrs()


def test_step_lr_state_dict():
    check_state_dict(
        {"type": "StepLR", "gamma": 0.1, "step_size": 3},
        {"type": "StepLR", "gamma": 0.01 / 2, "step_size": 1},
    )


def test_multi_step_lr_state_dict():
    check_state_dict(
        {"type": "MultiStepLR", "gamma": 0.1, "milestones": [2, 5, 9]},
        {"type": "MultiStepLR", "gamma": 0.01, "milestones": [1, 4, 6]},
    )


def test_exp_step_lr_state_dict():
    check_state_dict(
        {"type": "ExponentialLR", "gamma": 0.1}, {"type": "ExponentialLR", "gamma": 0.01}
    )


def test_cosine_lr_state_dict():
    epochs, eta_min = 10, 1e-10
    check_state_dict(
        {"type": "CosineAnnealingLR", "T_max": epochs, "eta_min": eta_min},
        {"type": "CosineAnnealingLR", "T_max": epochs // 2, "eta_min": eta_min / 2},
        epochs=epochs,
    )


def test_CosineAnnealingWarmRestarts_lr_state_dict():
    check_state_dict(
        {"type": "CosineAnnealingWarmRestarts", "T_0": 10, "T_mult": 2},
        {"type": "CosineAnnealingWarmRestarts", "T_0": 100},
    )


def test_reduce_lr_on_plateau_state_dict():
    scores = [1.0, 2.0, 3.0, 4.0, 3.0, 4.0, 5.0, 3.0, 2.0, 1.0]
    plateau = {"type": "ReduceLROnPlateau", "monitor": "val/loss", "mode": "min", "factor": 0.1}
    copy = {"type": "ReduceLROnPlateau", "monitor": "val/loss", "mode": "max", "factor": 0.5}
    check_state_dict(plateau | {"patience": 2}, copy | {"patience": 10}, metrics=scores)


CONSTANT = {"type": "ConstantLR"}
STATE_TREES = {  # the LRClass rows of test_lr_scheduler_state_dict_load a config can say
    "StepLR": {"type": "StepLR", "step_size": 30},
    "MultiStepLR": {"type": "MultiStepLR", "milestones": [30, 80]},
    "ConstantLR": CONSTANT,
    "LinearLR": {"type": "LinearLR"},
    "ExponentialLR": {"type": "ExponentialLR", "gamma": 0.9},
    "PolynomialLR": {"type": "PolynomialLR"},
    "CosineAnnealingLR": {"type": "CosineAnnealingLR", "T_max": 10},
    "ChainedScheduler": {"chain": {"a": CONSTANT, "b": CONSTANT}},
    "SequentialLR": {"sequence": {"a": CONSTANT, "b": CONSTANT}, "milestones": [2]},
    "ReduceLROnPlateau": {"type": "ReduceLROnPlateau", "monitor": "val/loss"},
    "CyclicLR": {"type": "CyclicLR", "base_lr": 0.01, "max_lr": 0.1},
    "OneCycleLR": {"type": "OneCycleLR", "max_lr": 0.01, "total_steps": 10}
    | {"anneal_strategy": "linear"},
    "CosineAnnealingWarmRestarts": {"type": "CosineAnnealingWarmRestarts", "T_0": 20},
}


@pytest.mark.parametrize("weights_only", [True, False])
@pytest.mark.parametrize("name", STATE_TREES)
def test_lr_scheduler_state_dict_load(name, weights_only):
    tree = STATE_TREES[name]
    state = build_schedule(tree, setup_optimizer(), 10, 1).state_dict()
    with io.BytesIO() as f:
        torch.save(state, f)
        f.seek(0)
        loaded = torch.load(f, weights_only=weights_only)
    assert plain(loaded) == plain(state)
    schedule2 = build_schedule(tree, setup_optimizer(), 10, 1)
    schedule2.load_state_dict(loaded)
    assert plain(schedule2.state_dict()) == plain(state)


def adam() -> torch.optim.Adam:
    return torch.optim.Adam(nn.Sequential(nn.Conv2d(1, 1, 1), nn.Conv2d(1, 1, 1)).parameters())


CYCLIC_1_5 = {"type": "CyclicLR", "interval": "step", "base_lr": 1, "max_lr": 5}
CYCLIC_1_5 |= {"cycle_momentum": False}


def test_cycle_lr_state_dict_picklable():
    # case 1, the built-in mode: the state pickles, and a fresh tree restored from it goes on alike
    schedule = build_schedule(CYCLIC_1_5, adam(), 1, 10)
    for _ in range(7):
        schedule.on_batch_end()
    restored = build_schedule(CYCLIC_1_5, adam(), 1, 10)
    restored.load_state_dict(pickle.loads(pickle.dumps(schedule.state_dict())))
    for _ in range(5):
        assert restored.lrs() == schedule.lrs()
        restored.on_batch_end()
        schedule.on_batch_end()


def test_cycle_lr_scale_fn_restored_from_state_dict():
    # case 1: triangular2's state restored into a triangular tree makes it triangular2
    scheduler = build_schedule(CYCLIC_1_5 | {"mode": "triangular2"}, adam(), 1, 10)
    restored = build_schedule(CYCLIC_1_5, adam(), 1, 10)
    restored.load_state_dict(scheduler.state_dict())
    for _ in range(6000):  # to the top of the second cycle (step_size_up 2000 by default)
        restored.on_batch_end()
    assert restored.lrs() == [1 + (5 - 1) / 2]  # triangular2 halves the second cycle; not 5


INITIAL_LR_TREES = [  # the LRClass rows of test_constant_initial_lr but LambdaLR, MultiplicativeLR
    {"type": "StepLR", "step_size": 30},
    {"type": "MultiStepLR", "milestones": [30, 80]},
    CONSTANT,
    {"type": "LinearLR"},
    {"type": "ExponentialLR", "gamma": 0.9},
    {"type": "PolynomialLR"},
    {"type": "CosineAnnealingLR", "T_max": 10},
    {"type": "CosineAnnealingWarmRestarts", "T_0": 20},
]


@pytest.mark.parametrize("tree", INITIAL_LR_TREES, ids=[t["type"] for t in INITIAL_LR_TREES])
def test_constant_initial_lr(tree):
    # the user's tensor lr, changed in place, moves neither the schedule's base nor its curve
    lr = torch.as_tensor(0.1)
    opt = torch.optim.SGD([nn.Parameter(torch.randn(1))], lr=lr)
    schedule = build_schedule(tree, opt, 10, 1)
    reference = build_schedule(tree, torch.optim.SGD([torch.zeros(1)], lr=torch.tensor(0.1)), 10, 1)
    for _ in range(2):
        schedule.on_epoch_end()
        reference.on_epoch_end()
        assert opt.param_groups[0]["lr"].item() == reference.lrs()[0]  # the schedule sets it
        lr.multiply_(0.1)
        assert schedule.lrs() == reference.lrs()


def test_lr_scheduler_checkpoint_on_plateau():
    model = torch.nn.Linear(3, 3)
    optim = torch.optim.AdamW(model.parameters())
    plateau = {"type": "ReduceLROnPlateau", "monitor": "val/loss", "mode": "min"}
    build_schedule(plateau, optim, 10, 1).on_epoch_end({"val/loss": 1})
    optim2 = torch.optim.AdamW(model.parameters())
    optim2.load_state_dict(optim.state_dict())
    assert build_schedule(plateau, optim2, 10, 1).lrs()[0] == optim.param_groups[0]["lr"]


def run_quietly(tree: dict, epochs: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning, at building or stepping, fails the case
        schedule = build_schedule(tree, setup_optimizer(), epochs, 1)
        for _ in range(epochs):
            schedule.on_epoch_end()


def test_new_pattern_no_warning():
    run_quietly({"type": "StepLR", "gamma": 0.1, "step_size": 3}, 35)


def test_new_pattern_no_warning_with_arg():
    run_quietly({"type": "StepLR", "gamma": 0.1, "step_size": 3}, 35)


def test_raise_error_when_last_epoch_is_greater_than_0_and_initial_lr_is_not_specified():
    optimizer = torch.optim.SGD([nn.Parameter(torch.randn(2, 2, requires_grad=True))], 0.1)
    tree = {"type": "StepLR", "step_size": 3, "gamma": 0.1, "last_epoch": 1}
    assert refused(tree, optimizer).startswith("sched.last_epoch: lrchain counts the steps")


def test_linearlr_start_factor_limits1():
    assert "refused by PyTorch" in refused(
        {"type": "LinearLR", "start_factor": 0.0, "total_iters": 4}
    )


def test_linearlr_start_factor_limits2():
    assert "refused by PyTorch" in refused(
        {"type": "LinearLR", "start_factor": 1.1, "total_iters": 4}
    )


def test_cycle_lr_invalid_mode():
    tree = {"type": "CyclicLR", "base_lr": 0, "max_lr": 0, "mode": "CATS"}
    refused(tree)  # max_lr 0 is refused first; with a usable max_lr the mode is named
    assert "mode" in refused(tree | {"max_lr": 5})


def test_cycle_lr_cycle_momentum_fail_with_momentumless_optimizer():
    rprop_opt = torch.optim.Rprop(nn.Conv2d(1, 1, 1).parameters())
    tree = {"type": "CyclicLR", "base_lr": 1, "max_lr": 5, "cycle_momentum": True}
    assert "momentum" in refused(tree, rprop_opt)


ONECYCLE = {"type": "OneCycleLR", "max_lr": 1e-3}


def test_onecycle_lr_invalid_anneal_strategy():
    assert "anneal_strategy" in refused(ONECYCLE | {"total_steps": 10, "anneal_strategy": "CATS"})


def test_onecycle_lr_invalid_pct_start():
    assert "pct_start" in refused(ONECYCLE | {"total_steps": 10, "pct_start": 1.1})


def test_onecycle_lr_cannot_calculate_total_steps():
    assert refused(ONECYCLE).startswith("sched.total_steps:")
