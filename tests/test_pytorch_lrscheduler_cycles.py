"""PyTorch's TestLRScheduler, ported: ReduceLROnPlateau, CyclicLR, OneCycleLR, warm restarts.

Each test is named as PyTorch's case; its targets are that case's own expressions.
"""

from __future__ import annotations

import math

import pytest
import torch
from test_pytorch_lrscheduler import at_lr, run_batches, run_epochs, run_plateau, setup_optimizer
from torch import nn

from lrchain.schedules import build_schedule


def plateau(mode: str, **args) -> dict:
    monitor = "val/acc" if mode == "max" else "val/loss"
    return {"type": "ReduceLROnPlateau", "monitor": monitor, "mode": mode, **args}


def test_reduce_lr_on_plateau1():
    targets = [[0.5] * 20]
    metrics = [10 - i * 0.0167 for i in range(20)]
    tree = plateau("min", threshold_mode="abs", threshold=0.01, patience=5, cooldown=5)
    run_plateau(tree, targets, metrics, 10)


def test_reduce_lr_on_plateau2():
    targets = [[0.5] * 6 + [0.05] * 7 + [0.005] * 7 + [0.0005] * 2]
    metrics = [10 - i * 0.0165 for i in range(22)]
    tree = plateau("min", patience=5, cooldown=0, threshold_mode="abs", threshold=0.1)
    run_plateau(tree, targets, metrics, 22)


def test_reduce_lr_on_plateau3():
    targets = [[0.5] * (2 + 6) + [0.05] * (5 + 6) + [0.005] * 4]
    metrics = [-0.8] * 2 + [-0.234] * 20
    run_plateau(plateau("max", patience=5, cooldown=5, threshold_mode="abs"), targets, metrics, 22)


def test_reduce_lr_on_plateau4():
    targets = [[0.5] * 20]
    metrics = [1.5 * (1.025**i) for i in range(20)]  # 1.025 > 1.1**0.25
    tree = plateau("max", patience=3, threshold_mode="rel", threshold=0.1)
    run_plateau(tree, targets, metrics, 20)


def test_reduce_lr_on_plateau5():
    targets = [[0.5] * 6 + [0.05] * (5 + 6) + [0.005] * 4]
    metrics = [1.5 * (1.005**i) for i in range(20)]
    tree = plateau("max", threshold_mode="rel", threshold=0.1, patience=5, cooldown=5)
    run_plateau(tree, targets, metrics, 20)


def test_reduce_lr_on_plateau6():
    targets = [[0.5] * 20]
    metrics = [1.5 * (0.85**i) for i in range(20)]
    run_plateau(plateau("min", threshold_mode="rel", threshold=0.1), targets, metrics, 20)


def test_reduce_lr_on_plateau7():
    targets = [[0.5] * 6 + [0.05] * (5 + 6) + [0.005] * 4]
    metrics = [1] * 7 + [0.6] + [0.5] * 12
    tree = plateau("min", threshold_mode="rel", threshold=0.1, patience=5, cooldown=5)
    run_plateau(tree, targets, metrics, 20)


def test_reduce_lr_on_plateau8():
    targets = [[0.5] * 6 + [0.4] * 14, [0.5] * 6 + [0.3] * 14]
    metrics = [1.5 * (1.005**i) for i in range(20)]
    tree = plateau("max", threshold_mode="rel", min_lr=[0.4, 0.3], threshold=0.1, patience=5)
    run_plateau(tree | {"cooldown": 5}, targets, metrics, 20)


def test_reduce_lr_on_plateau_get_last_lr_before_step():
    schedule = build_schedule(plateau("min"), at_lr(0.5), 10, 1)
    assert schedule.lrs() == [0.5, 0.5]


def test_reduce_lr_on_plateau_preserves_lr_type():
    # tensor rates stay tensors (a compiled optimizer step would otherwise recompile)
    opt = setup_optimizer()
    types = [type(group["lr"]) for group in opt.param_groups]
    schedule = build_schedule(plateau("min", patience=0), opt, 10, 1)
    schedule.on_epoch_end({"val/loss": 1.0})
    schedule.on_epoch_end({"val/loss": 2.0})  # a plateau: the rates are cut
    assert [type(group["lr"]) for group in opt.param_groups] == types
    assert schedule.lrs() == pytest.approx([0.005, 0.05])


def cyclic(base_lr, max_lr, up: int, down: int | None = None, momentum=True, **args) -> dict:
    tree = {"type": "CyclicLR", "base_lr": base_lr, "max_lr": max_lr, "step_size_up": up}
    if momentum:
        tree |= {"cycle_momentum": True, "base_momentum": base_lr, "max_momentum": max_lr}
    else:
        tree["cycle_momentum"] = False
    return tree | ({"step_size_down": down} if down else {}) | args


def test_cycle_lr_triangular_mode_one_lr():
    lr_target = [1, 2, 3, 4, 5, 4, 3, 2, 1, 2, 3]
    momentum_target = [5, 4, 3, 2, 1, 2, 3, 4, 5, 4, 3]
    tree = cyclic(1, 5, 4, mode="triangular")
    run_batches(tree, [lr_target] * 2, [momentum_target] * 2, len(lr_target))


def test_cycle_lr_triangular_mode_one_lr_no_momentum():
    opt = setup_optimizer()
    lr_target = [1, 2, 3, 4, 5, 4, 3, 2, 1, 2, 3]
    momentum_target = [opt.defaults["momentum"]] * len(lr_target)
    tree = cyclic(1, 5, 4, momentum=False, mode="triangular")
    run_batches(tree, [lr_target] * 2, [momentum_target] * 2, len(lr_target), opt)


TRIANGULAR2_LR = [1, 2, 3, 4, 5, 4, 3, 2, 1, 1.5, 2.0, 2.5, 3.0, 2.5, 2.0, 1.5, 1]
TRIANGULAR2_LR += [1.25, 1.50, 1.75, 2.00, 1.75]
TRIANGULAR2_MOMENTUM = [5.0, 4.0, 3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 5.0, 4.5, 4.0, 3.5, 3.0, 3.5]
TRIANGULAR2_MOMENTUM += [4.0, 4.5, 5.0, 4.75, 4.5, 4.25, 4.0, 4.25]


def test_cycle_lr_triangular2_mode_one_lr():
    tree = cyclic(1, 5, 4, mode="triangular2")
    run_batches(tree, [TRIANGULAR2_LR] * 2, [TRIANGULAR2_MOMENTUM] * 2, len(TRIANGULAR2_LR))


def exp_range(base_lr, max_lr, xs, gamma=0.9) -> tuple[list[float], list[float]]:
    diff_lr = max_lr - base_lr
    lr_target = [base_lr + x * diff_lr * gamma**i for i, x in enumerate(xs)]
    momentum_target = [max_lr - x * diff_lr * gamma**i for i, x in enumerate(xs)]
    return lr_target, momentum_target


EXP_RANGE_XS = [0, 0.25, 0.5, 0.75, 1, 0.75, 0.50, 0.25, 0, 0.25, 0.5, 0.75, 1]


def test_cycle_lr_exp_range_mode_one_lr():
    lr_target, momentum_target = exp_range(1, 5, EXP_RANGE_XS)
    tree = cyclic(1, 5, 4, mode="exp_range", gamma=0.9)
    run_batches(tree, [lr_target] * 2, [momentum_target] * 2, len(lr_target))


def test_cycle_lr_triangular_mode():
    lr_target_1 = [1, 2, 3, 4, 5, 4, 3, 2, 1, 2, 3]
    lr_target_2 = [x + 1 for x in lr_target_1]
    momentum_target_1 = [5, 4, 3, 2, 1, 2, 3, 4, 5, 4, 3]
    momentum_target_2 = [x + 1 for x in momentum_target_1]
    tree = cyclic([1, 2], [5, 6], 4, mode="triangular")
    lrs, momenta = [lr_target_1, lr_target_2], [momentum_target_1, momentum_target_2]
    run_batches(tree, lrs, momenta, len(lr_target_1))


def test_cycle_lr_triangular2_mode():
    lrs = [TRIANGULAR2_LR, [x + 2 for x in TRIANGULAR2_LR]]
    momenta = [TRIANGULAR2_MOMENTUM, [x + 2 for x in TRIANGULAR2_MOMENTUM]]
    run_batches(cyclic([1, 3], [5, 7], 4, mode="triangular2"), lrs, momenta, len(lrs[0]))


def test_cycle_lr_exp_range_mode():
    (lr_1, momentum_1), (lr_2, momentum_2) = (
        exp_range(1, 5, EXP_RANGE_XS),
        exp_range(5, 12, EXP_RANGE_XS),
    )
    tree = cyclic([1, 5], [5, 12], 4, mode="exp_range", gamma=0.9)
    run_batches(tree, [lr_1, lr_2], [momentum_1, momentum_2], len(lr_1))


def test_cycle_lr_triangular_mode_step_size_up_down():
    lr_target = [1.0, 2.0, 3.0, 4.0, 5.0, 13.0 / 3, 11.0 / 3, 9.0 / 3, 7.0 / 3, 5.0 / 3, 1.0]
    momentum_target = [5.0, 4.0, 3.0, 2.0, 1.0, 5.0 / 3, 7.0 / 3, 3.0, 11.0 / 3, 13.0 / 3, 5.0]
    tree = cyclic(1, 5, 4, 6, mode="triangular")
    run_batches(tree, [lr_target] * 2, [momentum_target] * 2, len(lr_target))


def test_cycle_lr_triangular2_mode_step_size_up_down():
    lr_base_target = [1.0, 3.0, 5.0, 13.0 / 3, 11.0 / 3, 9.0 / 3, 7.0 / 3, 5.0 / 3, 1.0, 2.0]
    lr_base_target += [3.0, 8.0 / 3, 7.0 / 3, 6.0 / 3, 5.0 / 3, 4.0 / 3, 1.0, 3.0 / 2, 2.0]
    lr_base_target += [11.0 / 6, 10.0 / 6, 9.0 / 6, 8.0 / 6, 7.0 / 6]
    momentum_base_target = [5.0, 3.0, 1.0, 5.0 / 3, 7.0 / 3, 3.0, 11.0 / 3, 13.0 / 3, 5.0, 4.0]
    momentum_base_target += [3.0, 10.0 / 3, 11.0 / 3, 4.0, 13.0 / 3, 14.0 / 3, 5.0, 4.5, 4.0]
    momentum_base_target += [25.0 / 6, 13.0 / 3, 4.5, 14.0 / 3, 29.0 / 6]
    deltas = [2 * i for i in range(2)]
    base_lrs = [1 + delta for delta in deltas]
    max_lrs = [5 + delta for delta in deltas]
    lr_targets = [[x + delta for x in lr_base_target] for delta in deltas]
    momentum_targets = [[x + delta for x in momentum_base_target] for delta in deltas]
    tree = cyclic(base_lrs, max_lrs, 2, 6, mode="triangular2")
    run_batches(tree, lr_targets, momentum_targets, len(lr_base_target))


def test_cycle_lr_exp_range_mode_step_size_up_down():
    xs = [0.0, 0.5, 1.0, 5.0 / 6, 4.0 / 6, 3.0 / 6, 2.0 / 6, 1.0 / 6, 0.0, 0.5, 1.0, 5.0 / 6]
    lr_target, momentum_target = exp_range(1, 5, [*xs, 4.0 / 6])
    tree = cyclic(1, 5, 2, 6, mode="exp_range", gamma=0.9)
    run_batches(tree, [lr_target] * 2, [momentum_target] * 2, len(lr_target))


def adam_two_groups() -> torch.optim.Adam:
    net = nn.Sequential(nn.Conv2d(1, 1, 1), nn.Conv2d(1, 1, 1))
    groups = [{"params": net[0].parameters()}, {"params": net[1].parameters(), "lr": 0.5}]
    return torch.optim.Adam(groups, lr=0.05)


def test_cycle_lr_with_momentumless_optimizer():
    lr_target = [1, 2, 3, 4, 5, 4, 3, 2, 1, 2, 3]
    momentum_target = [None] * len(lr_target)  # Adam has no momentum, and it is not moved
    tree = cyclic(1, 5, 4, momentum=False, mode="triangular")
    run_batches(tree, [lr_target] * 2, [momentum_target] * 2, len(lr_target), adam_two_groups())


def test_cycle_lr_cycle_momentum_with_beta1_optimizer():
    adam = torch.optim.Adam(setup_optimizer().param_groups[0]["params"])
    build_schedule(
        {"type": "CyclicLR", "base_lr": 1, "max_lr": 5, "cycle_momentum": True}, adam, 1, 1
    )


ONECYCLE = {"type": "OneCycleLR", "max_lr": 25, "base_momentum": 1, "max_momentum": 22}
ONECYCLE |= {"total_steps": 10}


def test_onecycle_lr_linear_annealing():
    lr_target = [1, 13, 25, 21.5, 18, 14.5, 11, 7.5, 4, 0.5]
    momentum_target = [22, 11.5, 1, 4, 7, 10, 13, 16, 19, 22]
    tree = ONECYCLE | {"final_div_factor": 2, "anneal_strategy": "linear"}
    run_batches(tree, [lr_target] * 2, [momentum_target] * 2, 10)


def test_onecycle_lr_linear_annealing_three_phases():
    lr_target = [1, 9, 17, 25, 17, 9, 1, 0.75, 0.5, 0.25]
    momentum_target = [22, 15, 8, 1, 8, 15, 22, 22, 22, 22]
    tree = ONECYCLE | {"div_factor": 25, "anneal_strategy": "linear", "pct_start": 0.4}
    tree |= {"final_div_factor": 4, "three_phase": True}
    run_batches(tree, [lr_target] * 2, [momentum_target] * 2, 10)


def test_onecycle_lr_cosine_annealing():
    def annealing_cos(start, end, pct):
        cos_out = math.cos(math.pi * pct) + 1
        return end + (start - end) / 2.0 * cos_out

    lr_target = [1, 13, 25, *(annealing_cos(25, 0.5, i / 7.0) for i in range(1, 7)), 0.5]
    momentum_target = [22, 11.5, 1, *(annealing_cos(1, 22, i / 7.0) for i in range(1, 7)), 22]
    run_batches(ONECYCLE | {"final_div_factor": 2}, [lr_target] * 2, [momentum_target] * 2, 10)


def test_cycle_lr_with_adam():
    lr_target = [1, 13, 25, 21.5, 18, 14.5, 11, 7.5, 4, 0.5]
    momentum_target = [22, 11.5, 1, 4, 7, 10, 13, 16, 19, 22]
    tree = ONECYCLE | {"final_div_factor": 2, "anneal_strategy": "linear"}
    targets = [lr_target] * 2, [momentum_target] * 2
    run_batches(tree, *targets, 10, adam_two_groups(), use_beta1=True)


@pytest.mark.parametrize("T_mult", [1, 2, 4])
def test_CosineAnnealingWarmRestarts_lr1(T_mult):
    iters, eta_min, T_i, T_cur = 100, 1e-10, 10, 0
    targets = [[0.05], [0.5]]
    for _ in range(1, iters, 1):
        T_cur += 1
        if T_cur >= T_i:
            T_cur = T_cur - T_i
            T_i = int(T_mult) * T_i
        targets[0] += [eta_min + (0.05 - eta_min) * (1 + math.cos(math.pi * T_cur / T_i)) / 2]
        targets[1] += [eta_min + (0.5 - eta_min) * (1 + math.cos(math.pi * T_cur / T_i)) / 2]
    tree = {"type": "CosineAnnealingWarmRestarts", "T_0": 10, "T_mult": T_mult}
    run_epochs(tree | {"eta_min": eta_min}, targets, iters)


def test_CosineAnnealingWarmRestarts_lr2():
    """Upstream steps with fractional epochs, `step(epoch)` every tenth of an epoch; lrchain says
    the same with `interval: step`, 10 batches an epoch and T_0 counted in batches (10 -> 100)."""
    iters, eta_min = 30, 1e-10
    for T_mult in [1, 2, 4]:
        T_i, T_cur = 10, 0
        targets = [[0.05], [0.5]]
        for _ in torch.arange(0.1, iters, 0.1):
            T_cur = round(T_cur + 0.1, 1)
            if T_cur >= T_i:
                T_cur = T_cur - T_i
                T_i = int(T_mult) * T_i
            cosine = (1 + math.cos(math.pi * T_cur / T_i)) / 2
            targets[0] += [eta_min + (0.05 - eta_min) * cosine]
            targets[1] += [eta_min + (0.5 - eta_min) * cosine]
        tree = {"type": "CosineAnnealingWarmRestarts", "T_0": 100, "T_mult": T_mult}
        run_batches(tree | {"eta_min": eta_min}, targets, [], len(targets[0]))


def test_cosine_then_cyclic():
    # https://github.com/pytorch/pytorch/issues/21965: the cyclic part stays below its max_lr
    max_lr, base_lr, optim_lr = 0.3, 0.1, 0.5
    optimizer = torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=optim_lr)
    cosine = {"type": "CosineAnnealingLR", "T_max": 20, "eta_min": 0.1}
    cyclic_ = {"type": "CyclicLR", "base_lr": base_lr, "max_lr": max_lr, "step_size_up": 1}
    members = {"cosine": cosine, "cyclic": cyclic_ | {"step_size_down": 3}}
    schedule = build_schedule({"sequence": members, "milestones": [21]}, optimizer, 40, 1)
    lrs = []
    for _ in range(40):
        schedule.on_epoch_end()
        lrs.append(optimizer.param_groups[0]["lr"])
    assert lrs[-1] <= max_lr and max(lrs[21:]) <= max_lr
