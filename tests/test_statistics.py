"""Seeds as replicates: groups, summaries, intervals and verdicts on fixed small histories.

Every number is checked against scipy called here directly, or worked out by hand.
"""

from __future__ import annotations

import math

import pytest
from scipy import stats

from lrchain import group_tables, grouped
from lrchain import statistics as st
from lrchain.errors import ConfigError
from lrchain.groups import default_keys, group_runs, metric_prefixes, resolve_keys

ACC = (0.80, 0.965, 0.97)  # val/acc of every run below: 99% of its best is first reached at epoch 2


def sample(seeds: str, values: list[float]) -> list[tuple[str, float]]:
    """(seed, value) pairs: seeds named by the characters of `seeds`."""
    return list(zip(seeds, values, strict=True))


def run(run_id: str, sched: str, seed: str, losses: tuple, status: str = "FINISHED") -> tuple:
    """The params and the RunRecord of a run whose val/loss per epoch is `losses`."""
    history = list(enumerate(losses))
    figures = st.run_figures(history, list(enumerate(ACC[: len(losses)])), 4.0 + int(seed))
    params = {"sched.name": sched, "seed": seed, "optim.lr": "0.1"}
    return params, grouped.RunRecord(run_id, status, seed, sched, figures)


# Best val/loss per seed 0, 1, 2 (the last epoch is worse: final != best).
CHAIN = [0.050, 0.060, 0.055]
STEP = [0.070, 0.075, 0.080]  # chain - step per seed: -0.020, -0.015, -0.025
EXP = [0.060, 0.052, 0.059]  # chain - exp per seed: -0.010, +0.008, -0.004


def sweep(*extra: tuple, metric: str = "best_val_loss") -> grouped.Grouped:
    """sched=chain,step,exp seed=0,1,2 (plus `extra` runs), grouped the default way."""
    runs = [
        run(f"{sched}{seed}", sched, str(seed), (0.5, best, best + 0.01))
        for sched, bests in (("step", STEP), ("chain", CHAIN), ("exp", EXP))
        for seed, best in enumerate(bests)
    ] + list(extra)
    params = [p for p, _ in runs]
    groups = group_runs([r.run_id for _, r in runs], params, default_keys(params))
    return grouped.build({r.run_id: r for _, r in runs}, groups, metric)


def by_label(result: grouped.Grouped) -> dict[str, grouped.GroupStats]:
    return {g.group.label: g for g in result.groups}


def test_a_runs_figures_count_epochs_from_one():
    loss = [(0, 0.5), (1, 0.3), (2, math.nan), (3, 0.35)]
    acc = [(0, 0.80), (1, 0.965), (2, 0.97)]
    assert st.run_figures(loss, acc, 4.5) == {
        "best_val_loss": 0.3,
        "final_val_loss": 0.35,
        "best_val_acc": 0.97,
        "epochs_to_99pct": 2,  # 0.965 >= 0.99 * 0.97 = 0.9603, at step 1
        "wall_seconds": 4.5,
    }
    assert st.run_figures([], [], None) == dict.fromkeys(st.FIGURES)


def test_summary_by_hand_leaves_out_missing_values():
    summary = st.summarize([1.0, 2.0, None, 3.0, math.nan, 4.0])
    assert summary.n == 4 and summary.mean == 2.5 and (summary.min, summary.max) == (1.0, 4.0)
    assert summary.std == pytest.approx(math.sqrt(5 / 3))  # squares 2.25+0.25+0.25+2.25 over 3
    assert st.summarize([0.7]) == st.Summary(1, 0.7, None, 0.7, 0.7)
    assert st.summarize([]) == st.Summary(0)


def test_band_is_mean_min_max_per_step_over_the_runs_that_reached_it():
    band = st.band([[(0, 1.0), (1, 0.5)], [(0, 3.0), (1, 0.7), (2, 0.4)]])
    assert band.steps == [0, 1, 2] and band.count == [2, 2, 1]
    assert band.mean == pytest.approx([2.0, 0.6, 0.4])
    assert (band.low, band.high) == ([1.0, 0.5, 0.4], [3.0, 0.7, 0.4])


def test_paired_by_seed_matches_scipy_and_the_hand_computation():
    d = st.compare("best_val_loss", sample("012", CHAIN), sample("012", STEP))
    expected = stats.ttest_rel(CHAIN, STEP)
    ci = expected.confidence_interval(0.95)
    assert d.test == st.PAIRED and d.wins == 3 and d.shown
    assert (d.mean, d.low, d.high, d.p) == pytest.approx((-0.02, ci.low, ci.high, expected.pvalue))
    # By hand: differences -0.020, -0.015, -0.025; sd 0.005; t(0.975, df 2) = 4.302653.
    half = 4.302653 * 0.005 / math.sqrt(3)
    assert (d.low, d.high) == pytest.approx((-0.02 - half, -0.02 + half), abs=1e-6)
    assert st.verdict(d, "chain", "step") == (
        "chain beats step on best val/loss in 3 of 3 seeds: -0.0200, 95% CI [-0.0324, -0.0076]"
    )


def test_paired_without_a_clear_difference_says_so():
    d = st.compare("best_val_loss", sample("012", CHAIN), sample("201", EXP[2:] + EXP[:2]))
    ci = stats.ttest_rel(CHAIN, EXP).confidence_interval(0.95)  # pairs found by seed, not order
    assert d.test == st.PAIRED and (d.low, d.high) == pytest.approx((ci.low, ci.high))
    assert not d.shown and d.wins == 2
    assert st.verdict(d, "chain", "exp").startswith(
        "chain vs exp on best val/loss: no difference shown at n=3 (chain better in 2 of 3 seeds:"
    )


def test_unequal_seeds_fall_back_to_welch():
    other = [0.070, 0.075, 0.080, 0.072]
    d = st.compare("best_val_loss", sample("012", CHAIN), sample("0135", other))
    expected = stats.ttest_ind(CHAIN, other, equal_var=False)
    ci = expected.confidence_interval(0.95)
    assert d.test == st.WELCH and d.wins is None and (d.n_best, d.n_other) == (3, 4)
    assert d.mean == pytest.approx(sum(CHAIN) / 3 - sum(other) / 4)
    assert (d.low, d.high, d.p) == pytest.approx((ci.low, ci.high, expected.pvalue))
    assert st.verdict(d, "chain", "step") == (
        f"chain beats step on best val/loss: {st.interval_text(d)} (Welch, unpaired, n=3 vs 4)"
    )


def test_one_run_gives_no_interval_and_says_why():
    d = st.compare("best_val_loss", sample("012", CHAIN), [("0", 0.07)])
    assert d.test == st.NO_TEST and d.low is None and d.high is None and not d.shown
    assert d.mean == pytest.approx(0.055 - 0.07)
    assert st.verdict(d, "chain", "step") == (
        "chain vs step on best val/loss: -0.0150 from n=3 vs n=1; no interval: a group of one run"
        " cannot tell the schedule from its seed"
    )


def test_the_same_difference_in_every_seed_and_a_tie():
    d = st.compare("best_val_loss", [("0", 0.1), ("1", 0.2)], [("0", 0.3), ("1", 0.4)])
    assert (d.mean, d.low, d.high) == pytest.approx((-0.2, -0.2, -0.2)) and d.shown
    assert st.verdict(d, "a", "b").endswith("(the same in every seed)")
    tie = st.compare("best_val_loss", [("0", 0.1), ("1", 0.2)], [("0", 0.1), ("1", 0.2)])
    assert st.verdict(tie, "a", "b") == "a and b tie on best val/loss in every one of 2 seeds"


def test_higher_is_better_for_accuracy():
    d = st.compare("best_val_acc", [("0", 0.98), ("1", 0.97)], [("0", 0.96), ("1", 0.96)])
    assert d.wins == 2 and d.mean == pytest.approx(0.015)


def test_groups_are_ranked_by_the_metric_and_compared_with_the_best():
    result = sweep()
    assert result.keys == ["sched"]
    assert [g.group.label for g in result.groups] == ["chain", "exp", "step"]
    chain, exp, step = result.groups
    assert chain.difference is None and chain.n == 3 and chain.sched == "chain"
    assert chain.summaries["best_val_loss"].mean == pytest.approx(0.055)
    assert chain.summaries["final_val_loss"].mean == pytest.approx(0.065)
    assert chain.summaries["epochs_to_99pct"] == st.Summary(3, 2.0, 0.0, 2, 2)
    assert chain.summaries["wall_seconds"].mean == pytest.approx(5.0)
    assert step.difference.shown and not exp.difference.shown
    assert result.verdicts()[1].startswith("chain beats step on best val/loss in 3 of 3 seeds")
    by_acc = sweep(metric="best_val_acc")  # every run reached the same val/acc
    assert by_acc.verdicts()[0] == "step and chain tie on best val/acc in every one of 3 seeds"


def test_a_failed_run_is_listed_and_left_out_of_the_statistics():
    failed = run("failed01", "step", "3", (0.5,), status="FAILED")
    with_failure, without = by_label(sweep(failed)), by_label(sweep())
    step = with_failure["step"]
    assert step.n == 3 and [r.run_id for r in step.left_out] == ["failed01"]
    assert step.summaries == without["step"].summaries
    assert step.difference == without["step"].difference  # still paired: seeds 0, 1, 2
    assert grouped.legend_name(step) == "step (n=3, 1 left out)"
    text = group_tables.report(sweep(failed))
    assert (
        "Left out of the statistics, not FINISHED (1):\n- step, seed 3: run failed01 FAILED" in text
    )


def test_the_table_fits_a_terminal_and_says_what_it_shows():
    text = group_tables.report(sweep())
    table = group_tables.to_markdown(sweep()).splitlines()
    assert table[0].split("|")[1:4] == [" sched ", " n ", " best val/loss "]
    assert table[2].startswith("| chain | 3 | 0.055 ± 0.005 | 0.050–0.060 |")
    assert max(len(line) for line in table) <= 100
    assert group_tables.cell(st.summarize([1.0350, 1.0360])) == "1.035 ± 0.001"  # 4 digits at most
    assert group_tables.cell(st.summarize([0.0540, 0.0626])) == "0.058 ± 0.006"
    assert "a paired t-test over seeds where both groups ran the same seeds, else Welch's" in text
    assert "- chain beats step on best val/loss in 3 of 3 seeds: -0.0200" in text


def test_the_parent_run_metrics_and_the_csv_hold_every_number():
    result = sweep()
    metrics = grouped.parent_metrics(result)
    assert metrics["chain/n"] == 3 and metrics["chain/best_val_loss_mean"] == pytest.approx(0.055)
    assert metrics["step/best_val_loss_diff"] == pytest.approx(-0.02)
    assert "chain/best_val_loss_diff" not in metrics  # the best group is not compared with itself
    rows = group_tables.to_csv(result).splitlines()
    assert rows[0].startswith("group,label,n,left_out,best_val_loss_mean,best_val_loss_std,")
    assert (
        rows[3].startswith("sched=step,step,3,0,0.075")
        and ',paired t,3,"chain beats step' in rows[3]
    )


def test_default_keys_are_what_varies_but_the_seed():
    step = {"sched.name": "step", "sched.step_size": "3", "seed": "0", "tracking.uri": "a"}
    chain = {
        "sched.name": "chain",
        "sched.chain.exp.gamma": "0.9",
        "seed": "1",
        "tracking.uri": "b",
    }
    assert default_keys([step, chain, step | {"seed": "2"}]) == ["sched"]
    lr = [step | {"optim.lr": "0.1"}, step | {"optim.lr": "0.05"}]
    assert default_keys(lr) == ["optim.lr"]
    gammas = [step, chain, chain | {"sched.chain.exp.gamma": "0.8"}]
    assert default_keys(gammas) == ["sched", "sched.chain.exp.gamma"]
    assert default_keys([step, step | {"seed": "1"}]) == []
    newer = step | {"trainer.threads": "auto", "seed": "1"}  # a key added between two runs
    assert default_keys([step, newer, chain]) == ["sched"]
    (only,) = group_runs(["a", "b"], [step, step | {"seed": "1"}], [])
    assert only.name == only.label == "all runs" and only.run_ids == ("a", "b")


def test_group_by_names_params_or_config_groups():
    params = [{"sched.name": "step", "optim.lr": "0.1", "seed": "0"}]
    assert resolve_keys("sched, optim.lr", params) == ["sched", "optim.lr"]
    assert resolve_keys("none", params) is None
    with pytest.raises(ConfigError) as err:
        resolve_keys("shed", params)
    assert str(err.value) == (
        "--group-by: no run has a param or config group 'shed'; allowed: sched, seed, none,"
        " or any param name (e.g. optim.lr)"
    )
    (group,) = group_runs(["a"], params, ["optim.lr"])
    assert group.label == group.name == "optim.lr=0.1"  # a number alone would say nothing


def test_metric_prefixes_are_keys_mlflow_accepts_and_never_collide():
    params = [
        {"sched.name": "chain", "optim.lr": "0.05"},
        {"sched.name": "a/b", "optim.lr": "1"},
        {"sched.name": "a_b", "optim.lr": "1"},
        {"sched.name": "..", "optim.lr": "1"},
    ]
    one = group_runs(["1", "2", "3", "4"], params, ["sched"])
    assert list(metric_prefixes(one).values()) == ["chain", "a_b", "a_b_2", "_.."]
    two = group_runs(["1"], params[:1], ["sched", "optim.lr"])
    assert list(metric_prefixes(two).values()) == ["sched_chain optim.lr_0.05"]


def test_an_unknown_metric_names_the_allowed_ones():
    with pytest.raises(
        ConfigError, match="--metric: unknown figure 'best_loss'; allowed: best_val"
    ):
        grouped.check_metric("best_loss")


def test_a_wide_table_keeps_to_a_terminals_width_and_says_what_it_left_out():
    long_names = ("warmup_then_cosine_with_restarts_v2", "warmup_then_step_and_exponential_v2")
    runs = [  # close replicates: means need many digits, every cell is at its widest
        run(f"{sched}{seed}", sched, str(seed), (0.5, best, best + 0.00013))
        for sched, bests in zip(
            long_names,
            ([0.05412, 0.05431, 0.05420], [0.07012, 0.07033, 0.07021]),
            strict=True,
        )
        for seed, best in enumerate(bests)
    ]
    params = [p for p, _ in runs]
    groups = group_runs([r.run_id for _, r in runs], params, default_keys(params))
    result = grouped.build({r.run_id: r for _, r in runs}, groups, "best_val_loss")
    wide = group_tables.to_markdown(result).splitlines()
    assert max(len(line) for line in wide) > 100  # what a file gets: every column, whole labels
    text = group_tables.report(result, 100)
    table = text[: text.index("\nn: ")].splitlines()
    assert max(len(line) for line in table) <= 100, text
    assert [c.strip() for c in table[0].split("|")[1:5]] == [
        "sched",
        "n",
        "best val/loss",
        "min–max",
    ]
    assert (
        table[-1].startswith("(left out here to fit: final val/loss") and "groups.md" in table[-1]
    )
    cut = long_names[0][: group_tables.LABEL_WIDTH - 1] + "…"
    assert cut in text and long_names[0] not in table[2] + table[3]  # labels cut, verdicts whole
