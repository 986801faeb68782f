"""Schedule trees: the core sequences, equality with PyTorch, nesting, validation, state."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
import warnings

import pytest
import torch
from omegaconf import OmegaConf
from torch.optim import lr_scheduler as S

from lrchain.configs import compose, conf_dir
from lrchain.schedules import SCHEDULERS, Schedule, ScheduleError, build_schedule, expected_lrs

LR = 0.1
STEP = {"type": "StepLR", "step_size": 3, "gamma": 0.5}
EXP = {"type": "ExponentialLR", "gamma": 0.9}


def optimizer(lr: float = LR) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr, momentum=0.9)


def ours(sched: dict, epochs: int, steps: int = 1) -> list[float]:
    per_epoch, per_step = expected_lrs(sched, optimizer(), epochs, steps)
    return per_step or per_epoch


def plain(sched) -> dict:
    """A composed `sched` config as the plain mapping the builder takes."""
    return OmegaConf.to_container(sched, resolve=True)


def pytorch(make, epochs: int, steps: int = 1, per_step: bool = False) -> list[float]:
    """The lr a bare PyTorch scheduler gives, stepped as lrchain steps its schedules."""
    opt = optimizer()
    scheduler = make(opt)
    lrs = []
    for _ in range(epochs):
        if per_step:
            for _ in range(steps):
                lrs.append(opt.param_groups[0]["lr"])
                opt.step()
                scheduler.step()
        else:
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            scheduler.step()
    return lrs


def assert_close(a: list[float], b: list[float], rel: float = 1e-12) -> None:
    assert len(a) == len(b)
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        assert math.isclose(x, y, rel_tol=rel, abs_tol=0.0), f"epoch {i}: {x!r} != {y!r}"


@pytest.mark.parametrize(
    ("name", "formula"),
    [
        ("step", lambda e: LR * 0.5 ** (e // 3)),
        ("exp", lambda e: LR * 0.9**e),
        ("chain", lambda e: LR * 0.5 ** (e // 3) * 0.9**e),
    ],
)
def test_core_schedules_follow_their_formula_for_20_epochs(name, formula):
    cfg = compose([f"sched={name}"])
    lrs = ours(plain(cfg.sched), 20)
    assert_close(lrs, [formula(e) for e in range(20)], rel=1e-9)


def test_chain_equals_chained_scheduler_over_100_epochs():
    chained = pytorch(
        lambda o: S.ChainedScheduler([S.StepLR(o, 3, 0.5), S.ExponentialLR(o, 0.9)]), 100
    )
    assert_close(ours({"chain": {"step": STEP, "exp": EXP}}, 100), chained)


def test_sequence_equals_sequential_lr_over_100_epochs():
    def sequential(o):
        warm = S.LinearLR(o, start_factor=0.1, total_iters=5)
        cos = S.CosineAnnealingLR(o, T_max=95, eta_min=0.001)
        return S.SequentialLR(o, [warm, cos], milestones=[5])

    tree = {
        "sequence": {
            "warm": {"type": "LinearLR", "start_factor": 0.1, "total_iters": 5},
            "cos": {"type": "CosineAnnealingLR", "T_max": 95, "eta_min": 0.001},
        },
        "milestones": [5],
    }
    assert_close(ours(tree, 100), pytorch(sequential, 100))


LEAVES = [
    ({"type": "StepLR", "step_size": 7, "gamma": 0.3}, lambda o: S.StepLR(o, 7, 0.3)),
    (
        {"type": "MultiStepLR", "milestones": [10, 40], "gamma": 0.2},
        lambda o: S.MultiStepLR(o, [10, 40], 0.2),
    ),
    ({"type": "ExponentialLR", "gamma": 0.97}, lambda o: S.ExponentialLR(o, 0.97)),
    (
        {"type": "CosineAnnealingLR", "T_max": 30, "eta_min": 0.001},
        lambda o: S.CosineAnnealingLR(o, 30, 0.001),
    ),
    (
        {"type": "CosineAnnealingWarmRestarts", "T_0": 5, "T_mult": 2},
        lambda o: S.CosineAnnealingWarmRestarts(o, 5, 2),
    ),
    (
        {"type": "LinearLR", "start_factor": 0.2, "total_iters": 9},
        lambda o: S.LinearLR(o, 0.2, total_iters=9),
    ),
    ({"type": "ConstantLR", "factor": 0.25, "total_iters": 4}, lambda o: S.ConstantLR(o, 0.25, 4)),
    (
        {"type": "PolynomialLR", "total_iters": 50, "power": 2.0},
        lambda o: S.PolynomialLR(o, 50, 2.0),
    ),
    (
        {"type": "OneCycleLR", "max_lr": 0.3, "total_steps": 100},
        lambda o: S.OneCycleLR(o, 0.3, 100),
    ),
    (
        {"type": "CyclicLR", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 6},
        lambda o: S.CyclicLR(o, 0.01, 0.1, 6),
    ),
]


@pytest.mark.parametrize(("tree", "make"), LEAVES, ids=[t["type"] for t, _ in LEAVES])
def test_every_leaf_alone_equals_the_bare_pytorch_scheduler(tree, make):
    assert_close(ours(tree, 100), pytorch(make, 100))


def test_plateau_leaf_equals_reduce_lr_on_plateau_fed_the_same_losses():
    losses = [1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8] * 3
    opt = optimizer()
    plateau = S.ReduceLROnPlateau(opt, factor=0.5, patience=2)
    want = []
    for loss in losses:
        want.append(opt.param_groups[0]["lr"])
        plateau.step(loss)
    tree = {"type": "ReduceLROnPlateau", "monitor": "val/loss", "factor": 0.5, "patience": 2}
    got, _ = expected_lrs(tree, optimizer(), len(losses), 1, {"val/loss": losses})
    assert_close(got, want)
    assert min(got) < LR  # it did reduce


def test_per_step_schedule_gets_its_length_from_data_and_epochs():
    tree = {"type": "OneCycleLR", "interval": "step", "max_lr": 0.3, "total_steps": "auto"}
    per_epoch, per_step = expected_lrs(tree, optimizer(), 4, 25)
    assert len(per_step) == 100 and len(per_epoch) == 4
    assert_close(per_step, pytorch(lambda o: S.OneCycleLR(o, 0.3, 100), 4, 25, per_step=True))
    assert per_epoch == per_step[::25]


def test_warmup_over_batches_then_chain_per_epoch_nests():
    tree = {
        "interval": "step",
        "sequence": {
            "warm": {"type": "LinearLR", "start_factor": 0.1, "total_iters": "auto"},
            "decay": {"interval": "epoch", "chain": {"step": STEP, "exp": EXP}},
        },
        "milestones": [10],
    }
    _, per_step = expected_lrs(tree, optimizer(), 6, 10)
    assert_close(per_step[:10], [LR * (0.1 + 0.9 * i / 10) for i in range(10)])
    # after the warm-up, the chain starts at its own step 0 and moves once per epoch
    for epoch in range(1, 6):
        want = LR * 0.5 ** ((epoch - 1) // 3) * 0.9 ** (epoch - 1)
        assert_close(per_step[epoch * 10 : epoch * 10 + 10], [want] * 10)


def test_chain_with_plateau_member_multiplies_the_reduction():
    tree = {
        "chain": {
            "exp": EXP,
            "plateau": {"type": "ReduceLROnPlateau", "monitor": "val/loss", "patience": 0},
        }
    }
    losses = [1.0, 1.0, 0.5, 0.5]
    got, _ = expected_lrs(tree, optimizer(), 4, 1, {"val/loss": losses})
    # the repeated 1.0 is a plateau (patience 0): from then on the decay is cut by 10
    assert_close(got, [LR, LR * 0.9, LR * 0.81 * 0.1, LR * 0.729 * 0.1])


def test_cycling_schedules_move_the_real_momentum():
    opt = optimizer()
    build_schedule(
        {"type": "OneCycleLR", "interval": "step", "max_lr": 0.3, "total_steps": "auto"}, opt, 2, 5
    )
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.95)


PLATEAU = {"type": "ReduceLROnPlateau", "monitor": "val/loss", "patience": 1}


def test_building_and_stepping_every_scheduler_warns_nothing():
    trees = [tree for tree, _ in LEAVES] + [PLATEAU]
    assert {t["type"] for t in trees} == set(SCHEDULERS)  # every scheduler a config may name
    trees.append(
        {
            "sequence": {"warm": EXP, "decay": {"chain": {"s": STEP, "p": PLATEAU}}},
            "milestones": [2],
        }
    )
    trees.append({"compose": "pytorch", "chain": {"s": STEP, "p": PLATEAU, "c": LEAVES[-1][0]}})
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # only here, so a warning fails this test
        for tree in trees:
            schedule = build_schedule(tree, optimizer(), 6, 4)
            for _ in range(6):
                schedule.on_batch_end()
                schedule.on_epoch_end({"val/loss": 1.0})


def test_uses_steps_when_any_node_counts_batches():
    per_batch = {"type": "LinearLR", "interval": "step", "total_iters": "auto"}
    per_epoch = {"a": EXP | {"interval": "epoch"}, "b": STEP | {"interval": "epoch"}}
    # its members step per epoch, but the sequence counts its milestone in batches
    by_batch = {"interval": "step", "sequence": per_epoch, "milestones": [5]}
    trees = {
        False: [
            EXP,
            {"chain": {"s": STEP, "e": EXP}},
            {"sequence": {"a": EXP, "b": STEP}, "milestones": [2]},
        ],
        True: [per_batch, {"chain": {"s": STEP, "b": per_batch}}, by_batch],
    }
    for uses_steps, group in trees.items():
        for tree in group:
            schedule = build_schedule(tree, optimizer(), 4, 3)
            assert isinstance(schedule, Schedule)
            assert schedule.uses_steps is uses_steps, tree


# the schedules of conf/sched/, as `lrchain preview all` lists them
CATALOG = sorted(p.stem for p in (conf_dir() / "sched").glob("*.yaml"))


@pytest.mark.parametrize("name", CATALOG)
def test_every_catalog_schedule_builds_and_previews(name):
    cfg = compose([f"sched={name}", "trainer.epochs=30"])
    lrs, _ = expected_lrs(plain(cfg.sched), optimizer(), 30, 23)
    assert len(lrs) == 30 and all(lr > 0 for lr in lrs)


MISTAKES = [
    (
        {"type": "StepLRR", "step_size": 3},
        "sched.type",
        "(did you mean 'StepLR'?); allowed: StepLR",
    ),
    (
        {"type": "StepLR", "step_size": 3, "gama": 0.5},
        "sched.gama",
        "takes no argument 'gama' (did you mean 'gamma'?); allowed: step_size, gamma",
    ),
    ({"type": "StepLR"}, "sched", "StepLR needs step_size; allowed"),
    (
        {"type": "ExponentialLR", "gamma": -0.5},
        "sched.gamma",
        "got -0.5; allowed: a number above 0",
    ),
    ({"type": "StepLR", "step_size": 0}, "sched.step_size", "got 0; allowed: a number above 0"),
    ({"type": "MultiStepLR", "milestones": [5, 3]}, "sched.milestones", "strictly increasing"),
    (
        {"sequence": {"a": EXP, "b": STEP}, "milestones": [3, 5]},
        "sched.milestones",
        "allowed: 1 milestones for a sequence of 2 members",
    ),
    ({"sequence": {"a": EXP, "b": STEP}, "milestones": [50]}, "sched.milestones", "do not fit"),
    (
        {"sequence": {"a": EXP, "b": STEP, "c": EXP}, "milestones": [6, 4]},
        "sched.milestones",
        "increasing",
    ),
    ({"chain": {}}, "sched.chain", "an empty chain; allowed: at least one member"),
    ({"type": "OneCycleLR", "max_lr": 0.1}, "sched.total_steps", "total_steps: auto"),
    ({"type": "ReduceLROnPlateau"}, "sched.monitor", "allowed: train/loss, val/loss, val/acc"),
    ({"type": "ReduceLROnPlateau", "monitor": "val/f1"}, "sched.monitor", "'val/f1'"),
    ({"chain": {"x": {"chain": {"y": {"type": "Nope"}}}}}, "sched.chain.x.chain.y.type", "unknown"),
    ({"type": "StepLR", "step_size": 2, "interval": "batch"}, "sched.interval", "epoch, step"),
    ({"chain": {"a": STEP}, "type": "StepLR"}, "sched", "exactly one of"),
    (
        {"sequence": {"a": EXP, "b": STEP}, "milestone": [2]},
        "sched.milestone",
        "a sequence takes no 'milestone' (did you mean 'milestones'?); allowed: name, interval",
    ),
    ({"chain": {"a": STEP}, "milestones": [2]}, "sched.milestones", "(a sequence has it)"),
    (
        {"type": "CyclicLR", "base_lr": [0.01, 0.02], "max_lr": 0.1},
        "sched.base_lr",
        "got [0.01, 0.02]; allowed: a number, or a list of 1 (one per param group; optim.head_lr",
    ),
    (
        {"type": "StepLR", "step_size": 3, "last_epoch": 4},
        "sched.last_epoch",
        "lrchain counts the steps, and a resumed run restores them",
    ),
    (
        {"type": "CosineAnnealingLR", "T_max": "auto", "eta_min": "auto"},
        "sched.eta_min",
        "got 'auto'; allowed: 'auto' for T_max",
    ),
]


@pytest.mark.parametrize(("tree", "path", "words"), MISTAKES, ids=[m[2] for m in MISTAKES])
def test_mistakes_fail_before_training_naming_path_and_allowed_values(tree, path, words):
    with pytest.raises(ScheduleError) as caught:
        build_schedule(tree, optimizer(), 20, 10)
    message = str(caught.value)
    assert message.startswith(f"{path}:"), message
    assert words in message, message


STATE_TREES = {
    "chain": {"chain": {"step": STEP, "exp": EXP}},
    "warmup_chain": {
        "sequence": {
            "warm": {"type": "LinearLR", "start_factor": 0.1, "total_iters": "auto"},
            "decay": {"chain": {"step": STEP, "exp": EXP}},
        },
        "milestones": [4],
    },
    "onecycle": {"type": "OneCycleLR", "interval": "step", "max_lr": 0.3, "total_steps": "auto"},
    "pytorch_chain": {
        "compose": "pytorch",
        "chain": {
            "cos": {"type": "CosineAnnealingLR", "T_max": "auto", "eta_min": 0.01},
            "s": STEP,
        },
    },
    "chain_plateau": {
        "chain": {
            "exp": EXP,
            "p": {"type": "ReduceLROnPlateau", "monitor": "val/loss", "patience": 1},
        }
    },
}

DRIVE = """
def drive(schedule, opt, start, stop, steps_per_epoch, losses):
    lrs = []
    for epoch in range(start, stop):
        lrs.append(opt.param_groups[0]["lr"])
        for _ in range(steps_per_epoch if schedule.uses_steps else 0):
            lrs.append(opt.param_groups[0]["lr"])
            schedule.on_batch_end()
        schedule.on_epoch_end({"val/loss": losses[epoch]})
    return lrs
"""
exec(DRIVE)

RESUME = (
    DRIVE
    + """
import pickle, sys, torch
from lrchain.schedules import build_schedule
tails = []
for tree, state, epochs, steps_per_epoch, start, losses in pickle.loads(sys.stdin.buffer.read()):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    schedule = build_schedule(tree, opt, epochs, steps_per_epoch)
    schedule.load_state_dict(state)
    tails.append(drive(schedule, opt, start, epochs, steps_per_epoch, losses))
sys.stdout.buffer.write(pickle.dumps(tails))
"""
)


def test_state_survives_a_fresh_process_at_any_epoch():
    epochs, steps_per_epoch, stops = 12, 3, (1, 4, 5, 9)
    losses = [1.0, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7, 0.7]
    wholes, heads, jobs = [], [], []
    for tree in STATE_TREES.values():
        opt = optimizer()
        schedule = build_schedule(tree, opt, epochs, steps_per_epoch)
        whole = drive(schedule, opt, 0, epochs, steps_per_epoch, losses)  # noqa: F821
        assert len(set(whole)) > 2  # the curve moves, so the comparison means something
        for stop in stops:
            opt = optimizer()
            schedule = build_schedule(tree, opt, epochs, steps_per_epoch)
            heads.append(drive(schedule, opt, 0, stop, steps_per_epoch, losses))  # noqa: F821
            jobs.append((tree, schedule.state_dict(), epochs, steps_per_epoch, stop, losses))
            wholes.append(whole)
    proc = subprocess.run(
        [sys.executable, "-c", RESUME], input=pickle.dumps(jobs), capture_output=True, check=True
    )
    tails = pickle.loads(proc.stdout)
    for (tree, *_, stop, _), head, tail, whole in zip(jobs, heads, tails, wholes, strict=True):
        assert head + tail == whole, f"{tree} resumed at epoch {stop}"
