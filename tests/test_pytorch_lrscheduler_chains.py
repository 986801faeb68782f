"""PyTorch's TestLRScheduler, ported: ChainedScheduler and compound (stepped together) cases.

A chain of lrchain's default kind multiplies its members' factors. Every member here steps by a
pure factor (cosine's eta_min is 1e-10), so the product is PyTorch's number; where a member does
not, the two part (see test_schedules.py and README "The schedule language").
"""

from __future__ import annotations

import math

from test_pytorch_lrscheduler import at_lr, pytorch_lrs, run_epochs, run_plateau, setup_optimizer
from torch.optim import lr_scheduler as S

from lrchain.schedules import build_schedule

STEP = {"type": "StepLR", "gamma": 0.1, "step_size": 3}
MULTISTEP = {"type": "MultiStepLR", "gamma": 0.1, "milestones": [2, 5, 9]}
EXP = {"type": "ExponentialLR", "gamma": 0.9}
LINEAR_04 = {"type": "LinearLR", "start_factor": 0.4, "total_iters": 4}
COSINE = {"type": "CosineAnnealingLR", "T_max": 10, "eta_min": 1e-10}


def chain(*members: dict) -> dict:
    return {"chain": {f"{m['type']}_{i}": m for i, m in enumerate(members)}}


def cosine_targets(epochs: int = 10, eta_min: float = 1e-10) -> list[float]:
    return [
        eta_min + (0.05 - eta_min) * (1 + math.cos(math.pi * x / epochs)) / 2 for x in range(epochs)
    ]


def test_chained_lr2_get_last_lr_before_step():
    tree = chain(LINEAR_04 | {"total_iters": 3}, {**MULTISTEP, "milestones": [4, 8, 10]})
    schedulers = lambda o: [  # noqa: E731
        S.LinearLR(o, start_factor=0.4, total_iters=3),
        S.MultiStepLR(o, milestones=[4, 8, 10], gamma=0.1),
    ]
    want = pytorch_lrs(lambda o: schedulers(o)[-1])  # `schedulers[-1].get_last_lr()`
    opt = setup_optimizer()
    schedule = build_schedule(tree, opt, 10, 1)
    assert schedule.lrs() == [float(g["lr"]) for g in opt.param_groups]
    assert all(math.isclose(a, b, abs_tol=1e-5) for a, b in zip(schedule.lrs(), want, strict=True))


def test_chained_lr1():
    targets = [[0.05] * 3 + [0.005] * 3 + [0.0005] * 3 + [0.00005] * 3]
    run_epochs(chain(STEP), targets, 10)


def test_chained_lr2():
    targets = [[0.02, 0.03, 0.04] + [0.05] * 9]
    run_epochs(chain(LINEAR_04 | {"total_iters": 3}), targets, 10)


def test_chained_lr3():
    targets = [[0.02, 0.03, 0.04, 0.05] + [0.005] * 4 + [0.0005] * 3 + [0.00005] * 3]
    tree = chain(LINEAR_04 | {"total_iters": 3}, {**MULTISTEP, "milestones": [4, 8, 10]})
    run_epochs(tree, targets, 10)


def test_chained_lr4():
    targets = [
        [0.05 * 0.2 * 0.9**x for x in range(3)]
        + [0.05 * 0.2 * 0.9**3 * 0.1]
        + [0.05 * 0.9**x * 0.1 for x in range(4, 6)]
        + [0.05 * 0.9**x * 0.01 for x in range(6, 9)]
    ]
    constant = {"type": "ConstantLR", "factor": 0.2, "total_iters": 4}
    run_epochs(chain(EXP, constant, STEP), targets, 9)


def test_chained_lr5():
    epochs, power, total_iters, const_factor = 10, 0.9, 5, 0.1

    def poly_lr(lr: float):
        return [(lr * ((1.0 - x / total_iters) ** power)) for x in range(total_iters)] + [0.0] * (
            epochs - total_iters
        )

    single_targets = [x * const_factor for x in poly_lr(lr=0.05)]
    targets = [single_targets, [x * const_factor for x in poly_lr(0.5)]]
    poly = {"type": "PolynomialLR", "power": power, "total_iters": total_iters}
    run_epochs(chain(poly, {"type": "ConstantLR", "factor": const_factor}), targets, epochs)


def test_compound_step_and_multistep_lr():
    targets = [[0.05] * 2 + [0.005] * 1 + [5e-4] * 2 + [5e-5] + [5e-6] * 3 + [5e-8]]
    run_epochs(chain(STEP, MULTISTEP), targets, 10)


def test_compound_step_and_exp_lr():
    single_targets = [0.05 * (0.9**x) for x in range(3)]
    single_targets += [0.005 * (0.9**x) for x in range(3, 6)]
    single_targets += [0.0005 * (0.9**x) for x in range(6, 9)]
    single_targets += [0.00005 * (0.9**x) for x in range(9, 12)]
    run_epochs(chain(STEP, EXP), [single_targets, [x * 10 for x in single_targets]], 10)


def test_compound_exp_and_multistep_lr():
    single_targets = [0.05 * (0.9**x) for x in range(2)]
    single_targets += [0.005 * (0.9**x) for x in range(2, 5)]
    single_targets += [0.0005 * (0.9**x) for x in range(5, 9)]
    single_targets += [0.00005 * (0.9**x) for x in range(9, 11)]
    run_epochs(chain(MULTISTEP, EXP), [single_targets, [x * 10 for x in single_targets]], 10)


def test_compound_exp_and_linearlr():
    iters, start_factor, end_factor = 4, 0.4, 0.9
    single_targets = [0.05 * (0.9**x) for x in range(11)]
    for i in range(iters):
        single_targets[i] *= start_factor + i / iters * (end_factor - start_factor)
    for i in range(iters, 11):
        single_targets[i] *= end_factor
    linear = LINEAR_04 | {"end_factor": end_factor}
    run_epochs(chain(linear, EXP), [single_targets, [x * 10 for x in single_targets]], 10)


def test_compound_step_and_constantlr():
    single_targets = [0.05 * 0.4] * 3 + [0.005 * 0.4] + [0.005] * 2 + [0.0005] * 3 + [0.00005] * 3
    constant = {"type": "ConstantLR", "factor": 0.4, "total_iters": 4}
    run_epochs(chain(STEP, constant), [single_targets, [x * 10 for x in single_targets]], 10)


def test_compound_linearlr_and_multistep_lr():
    iters, start_factor = 4, 0.4
    single_targets = [0.05] * 2 + [0.005] * 3 + [0.0005] * 4 + [0.00005] * 2
    for i in range(iters):
        single_targets[i] *= start_factor + i / iters * (1 - start_factor)
    run_epochs(chain(MULTISTEP, LINEAR_04), [single_targets, [x * 10 for x in single_targets]], 10)


def test_compound_cosanneal_and_step_lr():
    single_targets = [x * 0.1 ** (i // 3) for i, x in enumerate(cosine_targets())]
    run_epochs(chain(COSINE, STEP), [single_targets, [x * 10 for x in single_targets]], 10)


def test_compound_cosanneal_and_multistep_lr():
    multipliers = [1] * 2 + [0.1] * 3 + [0.01] * 4 + [0.001]
    single_targets = [x * y for x, y in zip(cosine_targets(), multipliers, strict=True)]
    run_epochs(chain(COSINE, MULTISTEP), [single_targets, [x * 10 for x in single_targets]], 10)


def test_compound_cosanneal_and_linearlr():
    iters, start_factor = 4, 0.4
    single_targets = cosine_targets()
    for i in range(iters):
        single_targets[i] *= start_factor + i / iters * (1 - start_factor)
    run_epochs(chain(LINEAR_04, COSINE), [single_targets, [x * 10 for x in single_targets]], 10)


def test_compound_cosanneal_and_exp_lr():
    multipliers = [0.1**i for i in range(10)]
    single_targets = [x * y for x, y in zip(cosine_targets(), multipliers, strict=True)]
    exp = {"type": "ExponentialLR", "gamma": 0.1}
    run_epochs(chain(COSINE, exp), [single_targets, [x * 10 for x in single_targets]], 10)


# The compound plateau cases: upstream, `targets = targets[1:]` drops the only list, so they
# assert nothing. Their comment says what is meant ("test runs step before checking lr"): the
# plateau's targets (copied from test_reduce_lr_on_plateauN) are read after each step already,
# the other member's multipliers (or curve) before it, so those move on by one step, and the
# last epoch, which would need one more multiplier, is left out.
PLATEAU_MIN = {"type": "ReduceLROnPlateau", "monitor": "val/loss", "mode": "min", "patience": 5}
PLATEAU_ABS_01 = PLATEAU_MIN | {"cooldown": 0, "threshold_mode": "abs", "threshold": 0.1}
PLATEAU_MAX = {"type": "ReduceLROnPlateau", "monitor": "val/acc", "mode": "max"}


def after_step(plateau: list[float], multipliers: list[float]) -> list[list[float]]:
    return [[x * y for x, y in zip(plateau, multipliers[1:], strict=False)]]


def test_compound_reduce_lr_on_plateau1():
    epochs = 10
    multipliers = [0.1 ** (i // 3) for i in range(20)]
    metrics = [10 - i * 0.0167 for i in range(20)]
    plateau = PLATEAU_MIN | {"threshold_mode": "abs", "threshold": 0.01, "cooldown": 5}
    run_plateau(chain(plateau, STEP), after_step([0.5] * 20, multipliers), metrics, epochs)


def test_compound_reduce_lr_on_plateau2():
    epochs = 22
    single_targets = [0.5] * 6 + [0.05] * 7 + [0.005] * 7 + [0.0005] * 2
    multipliers = [1] * 3 + [0.1] * 5 + [0.01] * 4 + [0.001] * 10
    metrics = [10 - i * 0.0165 for i in range(22)]
    multistep = {**MULTISTEP, "milestones": [3, 8, 12]}
    targets = after_step(single_targets, multipliers)
    run_plateau(chain(PLATEAU_ABS_01, multistep), targets, metrics, epochs - 1)


def test_compound_reduce_lr_on_plateau3():
    epochs = 22
    single_targets = [0.5] * (2 + 6) + [0.05] * (5 + 6) + [0.005] * 4
    multipliers = [0.1**i for i in range(epochs)]
    metrics = [-0.8] * 2 + [-0.234] * 20
    plateau = PLATEAU_MAX | {"patience": 5, "cooldown": 5, "threshold_mode": "abs"}
    exp = {"type": "ExponentialLR", "gamma": 0.1}
    targets = after_step(single_targets, multipliers)
    run_plateau(chain(plateau, exp), targets, metrics, epochs - 1)


def test_compound_reduce_lr_on_plateau4():
    epochs = 10
    single_targets = cosine_targets(epochs)  # the plateau never cuts: the curve is the cosine's
    metrics = [1.5 * (1.025**i) for i in range(20)]  # 1.025 > 1.1**0.25
    plateau = PLATEAU_MAX | {"patience": 3, "threshold_mode": "rel", "threshold": 0.1}
    tree = chain(plateau, COSINE)
    run_plateau(tree, [single_targets[1:]], metrics, epochs - 1, at_lr(0.05))


def test_compound_reduce_lr_on_plateau5():
    epochs, iters, start_factor = 22, 4, 0.4
    single_targets = [0.5] * 6 + [0.05] * 7 + [0.005] * 7 + [0.0005] * 2
    multipliers = [1] * 22
    for i in range(iters):
        multipliers[i] *= start_factor + i / iters * (1 - start_factor)
    metrics = [10 - i * 0.0165 for i in range(22)]
    targets = after_step(single_targets, multipliers)
    run_plateau(chain(PLATEAU_ABS_01, LINEAR_04), targets, metrics, epochs - 1)
