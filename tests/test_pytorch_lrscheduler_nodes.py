"""lrchain's nodes against PyTorch's: a chain and ChainedScheduler, a sequence and SequentialLR.

lrchain's chain multiplies its members' factors (each member's own rate over the base rate), in
any order. ChainedScheduler lets each member step the rate the ones before it left: the same
numbers while every member's step is a pure factor, other numbers (and order-dependent ones) when
a member's step is not, e.g. CosineAnnealingLR with eta_min > 0. `compose: pytorch` on a chain
gives PyTorch's numbers exactly. README "The schedule language" shows the example below.
A sequence is SequentialLR, but where CyclicLR or OneCycleLR overwrite PyTorch's `initial_lr`.
"""

from __future__ import annotations

import pytest
import torch
from torch.optim import lr_scheduler as S

from lrchain.schedules import ScheduleError, build_schedule, expected_lrs

LR = 0.1
COSINE = {"type": "CosineAnnealingLR", "T_max": 10, "eta_min": 0.01}
STEP = {"type": "StepLR", "step_size": 3, "gamma": 0.1}


def sgd(second_lr=None) -> torch.optim.SGD:
    groups = [{"params": [torch.zeros(1, requires_grad=True)]}]
    if second_lr is not None:
        groups.append({"params": [torch.zeros(1, requires_grad=True)], "lr": second_lr})
    return torch.optim.SGD(groups, lr=LR, momentum=0.9)


def alone(make, epochs: int = 10) -> list[float]:
    """A bare PyTorch scheduler's lr per epoch."""
    opt = sgd()
    scheduler = make(opt)
    lrs = []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return lrs


def chained(make_all, epochs: int, opt: torch.optim.Optimizer, metrics=None) -> list[list[float]]:
    """Every group's lr per epoch, schedulers stepped in turn on one optimizer (ChainedScheduler's
    way, and the way PyTorch's compound cases step a plateau beside others)."""
    schedulers = make_all(opt)
    lrs = []
    for epoch in range(epochs):
        lrs.append([float(g["lr"]) for g in opt.param_groups])
        opt.step()
        for s in schedulers:
            s.step(metrics[epoch]) if isinstance(s, S.ReduceLROnPlateau) else s.step()
    return lrs


def ours(tree: dict, epochs: int, opt: torch.optim.Optimizer, metrics=None) -> list[list[float]]:
    schedule = build_schedule(tree, opt, epochs, 1)
    lrs = []
    for epoch in range(epochs):
        lrs.append(schedule.lrs())
        schedule.on_epoch_end({"val/loss": metrics[epoch]} if metrics else None)
    return lrs


def test_a_chain_is_the_product_of_its_members_curves_where_chained_scheduler_is_not():
    cosine = alone(lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.01))
    step = alone(lambda o: S.StepLR(o, step_size=3, gamma=0.1))
    for members in ({"cos": COSINE, "step": STEP}, {"step": STEP, "cos": COSINE}):
        got, _ = expected_lrs({"chain": members}, sgd(), 10, 1)
        assert got == pytest.approx([c * s / LR for c, s in zip(cosine, step, strict=True)])
    assert got[4] == pytest.approx(0.1 * 0.68906 * 0.1, rel=1e-4)  # README's worked example
    assert got[9] == pytest.approx(1.22e-5, rel=1e-3)
    both = lambda o: [S.CosineAnnealingLR(o, 10, 0.01), S.StepLR(o, 3, 0.1)]  # noqa: E731
    pytorch = [lrs[0] for lrs in chained(both, 10, sgd())]
    # cosine's step, eta_min + (lr - eta_min) * r, pulls a rate StepLR cut below eta_min back up
    assert pytorch[4] == pytest.approx(0.01 + (pytorch[3] - 0.01) * 1.309017 / 1.587785, rel=1e-5)
    assert pytorch[4] > pytorch[3] and pytorch[9] == pytest.approx(0.000936, rel=1e-3)


MEMBERS = {  # a leaf, and the same scheduler built by PyTorch
    "cos": (COSINE, lambda o: S.CosineAnnealingLR(o, 10, 0.01)),
    "step": (STEP, lambda o: S.StepLR(o, 3, 0.1)),
    "restarts": (
        {"type": "CosineAnnealingWarmRestarts", "T_0": 5},
        lambda o: S.CosineAnnealingWarmRestarts(o, 5),
    ),
    "cyclic": (
        {"type": "CyclicLR", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 2},
        lambda o: S.CyclicLR(o, 0.01, 0.1, 2),
    ),
    "exp": ({"type": "ExponentialLR", "gamma": 0.9}, lambda o: S.ExponentialLR(o, 0.9)),
}
# where ChainedScheduler departs from the product (in both orders), and where it agrees
CHAINS = ["cos step", "step cos", "restarts step", "step restarts", "cyclic exp", "exp step"]


@pytest.mark.parametrize("names", CHAINS)
def test_compose_pytorch_gives_chained_schedulers_numbers_exactly(names):
    members = [MEMBERS[name] for name in names.split()]
    tree = {"compose": "pytorch", "chain": {f"m{i}": leaf for i, (leaf, _) in enumerate(members)}}
    want = chained(lambda o: [make(o) for _, make in members], 30, sgd(torch.tensor(0.5)))
    assert ours(tree, 30, sgd(torch.tensor(0.5))) == want


def test_compose_pytorch_steps_a_plateau_beside_the_others_on_the_rate_they_left():
    # ChainedScheduler refuses a plateau; stepping it beside the others, as PyTorch's compound
    # cases do, lets its eps and min_lr act on the combined rate
    losses = [1.0] * 12
    plateau = {"type": "ReduceLROnPlateau", "monitor": "val/loss", "patience": 0, "min_lr": 0.004}
    exp = {"type": "ExponentialLR", "gamma": 0.5}
    make = lambda o: [  # noqa: E731
        S.ReduceLROnPlateau(o, patience=0, min_lr=0.004),
        S.ExponentialLR(o, 0.5),
    ]
    tree = {"compose": "pytorch", "chain": {"plateau": plateau, "exp": exp}}
    assert ours(tree, 12, sgd(), losses) == chained(make, 12, sgd(), losses)
    product = ours({"chain": {"plateau": plateau, "exp": exp}}, 12, sgd(), losses)
    # multiplied, min_lr bounds the plateau's own rate (0.004 of 0.1: a factor of 0.04)
    assert product[-1][0] == pytest.approx(LR * 0.04 * 0.5**11)


@pytest.mark.parametrize(
    ("tree", "path", "words"),
    [
        ({"compose": "recursive", "chain": {"s": STEP}}, "sched.compose", "allowed: multiply ("),
        (
            {"compose": "pytorch", "chain": {"s": {"chain": {"s": STEP}}}},
            "sched.chain.s",
            "allowed: leaves",
        ),
        (
            {"compose": "pytorch", "sequence": {"s": STEP, "t": STEP}, "milestones": [2]},
            "sched.compose",
            "(a chain has it)",
        ),
    ],
)
def test_compose_is_checked_like_every_key(tree, path, words):
    with pytest.raises(ScheduleError) as caught:
        build_schedule(tree, sgd(), 10, 1)
    assert str(caught.value).startswith(f"{path}:") and words in str(caught.value)


SEQUENCE_MEMBERS = {  # a leaf, and the same scheduler built by PyTorch
    "cos": (COSINE | {"T_max": 7}, lambda o: S.CosineAnnealingLR(o, 7, 0.01)),
    "exp": ({"type": "ExponentialLR", "gamma": 0.8}, lambda o: S.ExponentialLR(o, 0.8)),
    "linear": (
        {"type": "LinearLR", "start_factor": 0.2, "total_iters": 4},
        lambda o: S.LinearLR(o, 0.2, total_iters=4),
    ),
    "restarts": MEMBERS["restarts"],
    "poly": (
        {"type": "PolynomialLR", "total_iters": 5, "power": 2.0},
        lambda o: S.PolynomialLR(o, 5, 2.0),
    ),
    "cyclic": MEMBERS["cyclic"],
}


def sequences(*names: str, epochs: int = 20) -> tuple[list, list]:
    """lrchain's sequence of `names` and SequentialLR's, milestone 5, both groups per epoch."""
    members = [SEQUENCE_MEMBERS[name] for name in names]
    tree = {"sequence": {f"m{i}": leaf for i, (leaf, _) in enumerate(members)}, "milestones": [5]}
    opt = sgd(torch.tensor(0.5))
    built = [make(opt) for _, make in members]
    sequential = [S.SequentialLR(opt, built, milestones=[5])]
    return ours(tree, epochs, sgd(torch.tensor(0.5))), chained(lambda o: sequential, epochs, opt)


@pytest.mark.parametrize(
    "names", ["cos exp", "exp cos", "linear restarts", "restarts poly", "poly linear"]
)
def test_a_sequence_gives_sequential_lrs_numbers(names):
    got, want = sequences(*names.split())
    assert got == want


def test_in_a_sequence_every_member_starts_from_the_optimizers_rate_even_after_cyclic_lr():
    # PyTorch's CyclicLR writes its base_lr (0.01) as the groups' initial_lr, which the members
    # built after it start from; lrchain starts each member from the optimizer's rate (0.1)
    got, want = sequences("cyclic", "exp")
    assert got[:5] == want[:5]
    assert got[5][0] == pytest.approx(LR) and want[5][0] == pytest.approx(0.01)
    assert got[6][0] == pytest.approx(LR * 0.8) and want[6][0] == pytest.approx(0.01 * 0.8)
