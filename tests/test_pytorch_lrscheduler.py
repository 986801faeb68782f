"""PyTorch's own scheduler tests on lrchain trees: the harness, and the index of the port.

PyTorch's `test/optim/test_lrscheduler.py` (class `TestLRScheduler`) checks every scheduler
against explicit targets. Each port keeps the PyTorch test's name and computes the targets with
that test's own expressions, but runs the schedule as an lrchain tree: a plain config mapping
given to `build_schedule`, stepped with `on_epoch_end` / `on_batch_end`, read from the
optimizer's param groups and from `lrs()`. The optimizer is the one of PyTorch's `setUp`: two
groups, lr 0.05 and a tensor lr 0.5. The tolerance is PyTorch's: atol 1e-5, rtol 0.

The ports live by topic in test_pytorch_lrscheduler_{curves,chains,cycles,state}.py. What a
config cannot say is in NOT_EXPRESSIBLE below, with the reason; the index test keeps them honest.
Where lrchain's chain and sequence mean other numbers than ChainedScheduler and SequentialLR, and
`compose: pytorch`, are pinned in test_pytorch_lrscheduler_nodes.py; tensor rates and per-group
lists in test_pytorch_lrscheduler_groups.py.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping, Sequence

import pytest
import torch
from torch import nn

from lrchain.contract import MONITORED
from lrchain.schedules import Schedule, ScheduleError, build_schedule


def names(text: str) -> list[str]:
    return text.split()


ATOL = 1e-5  # PyTorch's: assertEqual(target, lr, atol=1e-5, rtol=0)
TOPICS = ("curves", "chains", "cycles", "state")

# Every test method of TestLRScheduler (pytorch/pytorch at 01f9ef32), in the file's order.
PYTORCH_CASES = names(
    """
    error_when_getlr_has_epoch no_cyclic_references no_cyclic_references_in_step old_pattern_warning
    old_pattern_warning_with_arg old_pattern_warning_resuming old_pattern_warning_resuming_with_arg
    old_pattern_warning_with_overridden_optim_step new_pattern_no_warning
    new_pattern_no_warning_with_arg new_pattern_no_warning_with_overridden_optim_step
    step_lr_is_constant_for_constant_epoch exponential_lr_is_constant_for_constant_epoch
    constantlr_is_constant_for_constant_epoch linear_linearlr_is_constant_for_constant_epoch
    polynomial_lr_is_constant_for_constant_epoch step_lr get_last_lr_step_lr
    get_last_lr_multi_step_lr
    raise_error_when_last_epoch_is_greater_than_0_and_initial_lr_is_not_specified multi_step_lr
    multi_step_lr_with_epoch get_last_lr_constantlr get_last_lr_linearlr constantlr linearlr
    linearlr_start_factor_limits1 linearlr_start_factor_limits2 constantlr_with_epoch
    linearlr_with_epoch exp_lr poly_lr cos_anneal_lr closed_form_step_lr closed_form_linearlr
    closed_form_constantlr closed_form_multi_step_lr closed_form_exp_lr closed_form_poly_lr
    closed_form_cos_anneal_lr cos_anneal_lr_continue reduce_lr_on_plateau1 reduce_lr_on_plateau2
    reduce_lr_on_plateau3 reduce_lr_on_plateau4 reduce_lr_on_plateau5 reduce_lr_on_plateau6
    reduce_lr_on_plateau7 reduce_lr_on_plateau8 reduce_lr_on_plateau_get_last_lr_before_step
    reduce_lr_on_plateau_preserves_lr_type sequentiallr1 sequentiallr2 sequentiallr3 sequentiallr4
    sequentiallr5 sequentiallr_no_warnings get_last_lr_sequentiallr
    sequentiallr_does_not_alias_lr_and_initial_lr chained_lr2_get_last_lr_before_step chained_lr1
    chained_lr2 chained_lr3 chained_lr4 chained_lr5 compound_step_and_multistep_lr
    compound_step_and_exp_lr compound_exp_and_multistep_lr compound_exp_and_linearlr
    compound_step_and_constantlr compound_linearlr_and_multistep_lr compound_cosanneal_and_step_lr
    compound_cosanneal_and_multistep_lr compound_cosanneal_and_linearlr
    compound_cosanneal_and_exp_lr compound_reduce_lr_on_plateau1 compound_reduce_lr_on_plateau2
    compound_reduce_lr_on_plateau3 compound_reduce_lr_on_plateau4 compound_reduce_lr_on_plateau5
    cycle_lr_invalid_mode cycle_lr_triangular_mode_one_lr
    cycle_lr_triangular_mode_one_lr_no_momentum cycle_lr_triangular2_mode_one_lr
    cycle_lr_exp_range_mode_one_lr cycle_lr_triangular_mode cycle_lr_triangular2_mode
    cycle_lr_exp_range_mode cycle_lr_triangular_mode_step_size_up_down
    cycle_lr_triangular2_mode_step_size_up_down cycle_lr_exp_range_mode_step_size_up_down
    cycle_lr_with_momentumless_optimizer cycle_lr_cycle_momentum_fail_with_momentumless_optimizer
    cycle_lr_cycle_momentum_with_beta1_optimizer cycle_lr_removed_after_out_of_scope
    cycle_lr_state_dict_picklable cycle_lr_scale_fn_restored_from_state_dict
    onecycle_lr_invalid_anneal_strategy onecycle_lr_invalid_pct_start
    onecycle_lr_cannot_calculate_total_steps onecycle_lr_linear_annealing
    onecycle_lr_linear_annealing_three_phases onecycle_lr_cosine_annealing
    onecycle_lr_legacy_state_dict cycle_lr_with_adam lambda_lr multiplicative_lr
    multiplicative_lr_with_lr_lambda CosineAnnealingWarmRestarts_lr1 CosineAnnealingWarmRestarts_lr2
    CosineAnnealingWarmRestarts_lr3 CosineAnnealingWarmRestarts_T_cur_reset swalr_no_anneal
    swalr_cosine_anneal_after_multiplicative swalr_linear_anneal_after_multiplicative swalr_hypers
    step_lr_state_dict multi_step_lr_state_dict exp_step_lr_state_dict cosine_lr_state_dict
    reduce_lr_on_plateau_state_dict lambda_lr_state_dict_fn lambda_lr_state_dict_obj
    CosineAnnealingWarmRestarts_lr_state_dict swa_lr_state_dict cosine_then_cyclic
    lr_scheduler_state_dict_load add_param_group_does_not_break_reduce_lr_on_plateau
    add_param_group_errors_reduce_lr_on_plateau constant_initial_lr constant_initial_params_cyclelr
    constant_initial_params_onecyclelr constant_initial_params_swalr lr_scheduler_checkpoint
    lr_scheduler_checkpoint_on_plateau
    """
)

# Why a case cannot be said as an lrchain tree -> the cases (without their `test_` prefix).
NOT_EXPRESSIBLE = {
    "step(epoch) jumps to a given epoch: PyTorch deprecated it, and a run's time only moves"
    " forward, one tick per epoch or batch": """step_lr_is_constant_for_constant_epoch
    exponential_lr_is_constant_for_constant_epoch constantlr_is_constant_for_constant_epoch
    linear_linearlr_is_constant_for_constant_epoch polynomial_lr_is_constant_for_constant_epoch
    multi_step_lr_with_epoch constantlr_with_epoch linearlr_with_epoch
    CosineAnnealingWarmRestarts_lr3""",
    "LambdaLR and MultiplicativeLR take Python callables, which a config must not name": """
    lambda_lr multiplicative_lr multiplicative_lr_with_lr_lambda lambda_lr_state_dict_fn
    lambda_lr_state_dict_obj""",
    "SWALR belongs to weight averaging (swa_utils.AveragedModel updated in the loop), which"
    " lrchain's training does not do": """swalr_no_anneal swalr_cosine_anneal_after_multiplicative
    swalr_linear_anneal_after_multiplicative swalr_hypers swa_lr_state_dict
    constant_initial_params_swalr""",
    "last_epoch resumes a scheduler by hand: lrchain counts the steps, and a resumed run"
    " restores its schedule from the checkpoint": "cos_anneal_lr_continue lr_scheduler_checkpoint",
    "the order of optimizer.step() and scheduler.step(), or an optimizer.step() replaced by the"
    " user: lrchain makes those calls itself": """old_pattern_warning old_pattern_warning_with_arg
    old_pattern_warning_resuming old_pattern_warning_resuming_with_arg
    old_pattern_warning_with_overridden_optim_step
    new_pattern_no_warning_with_overridden_optim_step""",
    "Python objects, not schedules: a scheduler subclass, garbage collection, T_cur set by hand,"
    " a legacy state holding a function": """error_when_getlr_has_epoch no_cyclic_references
    no_cyclic_references_in_step cycle_lr_removed_after_out_of_scope
    CosineAnnealingWarmRestarts_T_cur_reset onecycle_lr_legacy_state_dict""",
    "a param group added mid-run: a run's groups come from its config and stay": """
    add_param_group_does_not_break_reduce_lr_on_plateau
    add_param_group_errors_reduce_lr_on_plateau""",
    "tensor arguments changed in place after building: a config's arguments are plain numbers": """
    constant_initial_params_cyclelr constant_initial_params_onecyclelr""",
}

# Ported cases with a part a config cannot say (the part, and why).
PORTED_IN_PART = {
    "lr_scheduler_state_dict_load": "the LambdaLR, MultiplicativeLR and SWALR rows (callables)",
    "constant_initial_lr": "the LambdaLR and MultiplicativeLR rows (callables)",
    "cycle_lr_state_dict_picklable": "cases 2 and 3, a custom scale_fn (a callable)",
    "cycle_lr_scale_fn_restored_from_state_dict": "case 2, a custom scale_fn (a callable)",
    **{
        f"chained_lr{i}": "the closing get_last_lr() identity of ChainedScheduler objects"
        for i in range(1, 6)
    },
}


def not_expressible() -> dict[str, str]:
    return {f"test_{n}": why for why, cases in NOT_EXPRESSIBLE.items() for n in names(cases)}


def test_every_pytorch_case_is_ported_or_listed_with_its_reason():
    ported = set()
    for topic in TOPICS:
        module = importlib.import_module(f"test_pytorch_lrscheduler_{topic}")
        ported |= {name for name in vars(module) if name.startswith("test_")}
    cases, left_out = {f"test_{n}" for n in PYTORCH_CASES}, set(not_expressible())
    assert len(PYTORCH_CASES) == len(cases) == 135
    assert not left_out - cases and not ported & left_out
    assert ported == cases - left_out, sorted(ported ^ (cases - left_out))
    assert {f"test_{n}" for n in PORTED_IN_PART} <= ported


# -- the harness: PyTorch's setUp and its ways of stepping, on lrchain trees ---------------------


def setup_optimizer() -> torch.optim.SGD:
    """PyTorch's setUp: conv1 in a group at lr 0.05, conv2 in one with a tensor lr of 0.5."""
    net = nn.Sequential(nn.Conv2d(1, 1, 1), nn.Conv2d(1, 1, 1))
    groups = [{"params": net[0].parameters()}, {"params": net[1].parameters()}]
    groups[1]["lr"] = torch.tensor(0.5)
    return torch.optim.SGD(groups, lr=0.05)


def at_lr(lr: float) -> torch.optim.SGD:
    """setUp's optimizer after the plateau cases' `param_group["lr"] = lr` for every group."""
    opt = setup_optimizer()
    for group in opt.param_groups:
        group["lr"] = lr
    return opt


def check(schedule: Schedule, opt, targets: Sequence[Sequence[float]], i: int, what="lr") -> None:
    """Group g's lr is targets[g][i], for the groups that have targets (as PyTorch zips them)."""
    lrs = schedule.lrs()
    for g, (group, target) in enumerate(zip(opt.param_groups, targets, strict=False)):
        for source, got in (("optimizer", float(group["lr"])), ("lrs()", lrs[g])):
            assert math.isclose(got, target[i], rel_tol=0, abs_tol=ATOL), (
                f"{what} {i}, group {g}, {source}: {got} != {target[i]}"
            )


def run_epochs(tree: Mapping, targets, epochs: int, opt=None) -> Schedule:
    """PyTorch's `_test` and `_test_get_last_lr`: the lr of each epoch, before its step."""
    opt = opt or setup_optimizer()
    schedule = build_schedule(tree, opt, epochs, 1)
    for epoch in range(epochs):
        check(schedule, opt, targets, epoch, "epoch")
        schedule.on_epoch_end()
    return schedule


def run_plateau(tree: Mapping, targets, metrics: Sequence[float], epochs: int, opt=None) -> None:
    """PyTorch's `_test_reduce_lr_on_plateau`: step with the epoch's metric, then check.

    Every metric a plateau may watch gets the case's value; the cases name their mode.
    """
    opt = opt or at_lr(0.5)
    schedule = build_schedule(tree, opt, epochs, 1)
    for epoch in range(epochs):
        schedule.on_epoch_end(dict.fromkeys(MONITORED, metrics[epoch]))
        check(schedule, opt, targets, epoch, "epoch")


def run_batches(
    tree: Mapping, lr_targets, momentum_targets, batches: int, opt=None, use_beta1=False
) -> None:
    """PyTorch's `_test_cycle_lr`: lr and momentum (or Adam's beta1) before each batch's step."""
    opt = opt or setup_optimizer()
    schedule = build_schedule({"interval": "step", **tree}, opt, 1, batches)
    for batch in range(batches):
        check(schedule, opt, lr_targets, batch, "batch")
        for g, (group, target) in enumerate(zip(opt.param_groups, momentum_targets, strict=False)):
            if use_beta1 and "betas" in group:
                got = group["betas"][0]
            elif "momentum" in group:
                got = group["momentum"]
            else:
                continue
            assert math.isclose(got, target[batch], abs_tol=ATOL), f"batch {batch}, group {g}"
        schedule.on_batch_end()


def refused(tree: Mapping, opt: torch.optim.Optimizer | None = None, epochs: int = 10) -> str:
    """The message lrchain refuses `tree` with, before any run (PyTorch raises ValueError)."""
    with pytest.raises(ScheduleError) as caught:
        build_schedule(tree, opt or setup_optimizer(), epochs, 1)
    message = str(caught.value)
    assert message.startswith("sched"), message
    return message


def pytorch_lrs(make: Callable[[torch.optim.Optimizer], object]) -> list[float]:
    """What PyTorch itself reports, on setUp's optimizer: `make(opt).get_last_lr()`."""
    return [float(lr) for lr in make(setup_optimizer()).get_last_lr()]
