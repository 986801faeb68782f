"""A schedule search through the real command line: Optuna's study, pruned per epoch, in MLflow."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import client_for, history, project, runs_of, train

SEARCH = (
    "-m",
    "hydra/sweeper=schedule_search",
    "optim.lr=tag(log,interval(0.01,50))",  # up to 50: some trials diverge, some stall
    "sched.chain.exp.gamma=interval(0.5,0.99)",
    "trainer.epochs=4",
    "hydra.sweeper.n_jobs=2",  # 2 trials at a time, forked side by side (the default launcher)
    "hydra.sweeper.pruner.n_startup_trials=2",  # prune from the third complete trial on
    "hydra.sweeper.sampler.n_startup_trials=2",  # TPE itself from the third trial on
)
FIGURES = ("optimization_history", "param_importances", "parallel_coordinate", "intermediate")


def study_of(folder: Path):
    """The one study in `folder`'s optuna.db, beside its mlflow.db."""
    import optuna

    storage = f"sqlite:///{folder / 'optuna.db'}"
    (summary,) = optuna.get_all_study_summaries(storage)
    return optuna.load_study(study_name=summary.study_name, storage=storage)


def parents(folder: Path) -> list:
    return [r for r in runs_of(folder) if r.data.tags.get("lrchain.sweep") == "true"]


def trial_runs(folder: Path) -> dict[int, object]:
    return {
        int(r.data.tags["lrchain.trial"]): r
        for r in runs_of(folder)
        if "lrchain.trial" in r.data.tags
    }


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> Path:
    """8 trials of 4 epochs, 2 at a time, in a fresh folder."""
    folder = project(tmp_path_factory.mktemp("search"))
    train(folder, *SEARCH, "hydra.sweeper.n_trials=8")
    return folder


@pytest.mark.slow
def test_every_trial_has_a_true_status_and_a_hopeless_one_is_pruned(searched):
    first = range(8)  # the first invocation's (a later test continues the study)
    trials = {t.number: t for t in study_of(searched).trials if t.number in first}
    runs = {n: run for n, run in trial_runs(searched).items() if n in first}
    assert sorted(trials) == sorted(runs) == list(first)
    parent = parents(searched)[0]
    states = {t.state.name for t in trials.values()}
    assert "PRUNED" in states and "COMPLETE" in states, states
    for number, trial in trials.items():
        run, state = runs[number], trial.state.name
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        epochs = [s for s, _ in history(searched, run.info.run_id, "val/loss")]
        if state == "COMPLETE":
            assert run.info.status == "FINISHED" and "lrchain.pruned" not in run.data.tags
            assert epochs == [0, 1, 2, 3]
        elif state == "PRUNED":  # ends FINISHED, the epochs it trained kept
            last = int(run.data.tags["lrchain.pruned_epoch"])
            assert run.info.status == "FINISHED" and run.data.tags["lrchain.pruned"] == "true"
            assert epochs == list(range(last + 1)) and last < 3
            assert sorted(trial.intermediate_values) == epochs
        else:  # diverged: told to the study as failed, the search went on
            assert state == "FAIL" and run.info.status == "FAILED", (state, run.info.status)
            assert run.data.tags["lrchain.diverged"] == "true"


@pytest.mark.slow
def test_the_parent_run_is_the_study_with_its_best_trial_and_figures(searched):
    study = study_of(searched)
    parent = parents(searched)[0]
    params, metrics = parent.data.params, parent.data.metrics
    assert params["search.study"] == study.study_name == parent.data.tags["lrchain.study"]
    assert params["search.storage"] == f"sqlite:///{(searched / 'optuna.db').resolve()}"
    assert parent.info.run_name == f"study {study.study_name}: trials 0-7"
    complete = [t for t in study.trials[:8] if t.state.name == "COMPLETE"]
    best = min(complete, key=lambda t: t.value)
    assert params["best.trial"] == str(best.number)
    assert float(params["best.optim.lr"]) == best.params["optim.lr"]
    assert metrics["best/val/loss"] == best.value
    assert metrics["search/epochs_trained"] < 8 * 4 == metrics["search/epochs_budget"]
    client = client_for(searched)
    found = {a.path for a in client.list_artifacts(parent.info.run_id, "search")}
    assert found == {f"search/{f}.png" for f in FIGURES} | {"search/optimization_results.yaml"}
    assert client.list_artifacts(parent.info.run_id, "comparison")
    written = sorted(searched.glob("multirun/*/*/optimization_results.yaml"))[0]
    results = yaml.safe_load(written.read_text())
    assert results["best_params"] == best.params and results["best_value"] == best.value


@pytest.mark.slow
def test_the_same_command_again_continues_the_study_under_a_new_parent(searched):
    before = {t.number: t.params for t in study_of(searched).trials}
    train(searched, *SEARCH, "hydra.sweeper.n_trials=2")
    study = study_of(searched)
    assert [t.number for t in study.trials] == list(range(10))
    latest = parents(searched)[-1]
    assert latest.info.run_name == f"study {study.study_name}: trials 8-9"
    assert latest.data.params["search.trials"] == "8-9"
    children = [
        r for r in runs_of(searched) if r.data.tags.get("mlflow.parentRunId") == latest.info.run_id
    ]
    assert sorted(r.data.tags["lrchain.trial"] for r in children) == ["8", "9"]
    assert study.trials[8].params not in before.values()  # not the first start-up draws again


@pytest.mark.slow
def test_the_same_seed_and_command_draw_the_same_trials(searched, tmp_path):
    again = project(tmp_path / "again")
    train(again, *SEARCH, "hydra.sweeper.n_trials=4")
    first = {t.number: t.params for t in study_of(searched).trials if t.number < 4}
    assert {t.number: t.params for t in study_of(again).trials} == first


def test_a_wrong_sweeper_key_is_named_before_any_run(launch_dir):
    proc = train(
        launch_dir,
        "-m",
        "hydra/sweeper=schedule_search",
        "optim.lr=tag(log,interval(0.01,1))",
        "hydra.sweeper.objective=val/los",
        check=False,
    )
    assert proc.returncode == 1
    assert "lrchain: hydra.sweeper.objective: 'val/los' is not logged every epoch" in proc.stderr
    assert "allowed: train/loss, val/loss, val/acc" in proc.stderr
    assert not (launch_dir / "mlflow.db").exists()


SETTINGS = yaml.safe_load((Path(__file__).parents[1] / "conf/search/chain.yaml").read_text())


@pytest.mark.parametrize(
    ("key", "bad"),
    [
        ("objective", "val/los"),
        ("objective_epoch", "last"),
        ("direction", "down"),
        ("n_trials", 0),
        ("n_trials", "abc"),
        ("n_jobs", 1.5),
    ],
)
def test_a_wrong_sweeper_setting_is_named_with_what_is_allowed(key, bad):
    from lrchain.errors import ConfigError
    from lrchain.search.study import settings_of

    sweeper = SETTINGS["hydra"]["sweeper"] | {key: bad}
    with pytest.raises(ConfigError) as caught:
        settings_of(sweeper)
    assert str(caught.value).startswith(f"hydra.sweeper.{key}: ") and "allowed" in str(caught.value)


def test_optunas_figures_leave_lrchains_style_alone(tmp_path):
    import matplotlib
    import optuna

    from lrchain.search.report import draw_figures

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1) ** 2, n_trials=4)
    assert draw_figures(study, tmp_path)  # Optuna applies its "ggplot" style when it draws
    assert matplotlib.rcParams["axes.facecolor"] == matplotlib.rcParamsDefault["axes.facecolor"]


def test_a_trials_drawn_floats_are_named_short():
    from lrchain.job import run_name
    from lrchain.tables import short

    config = {"tracking": {"run_name": None}, "sched": {"name": "chain"}}
    drawn = ["optim.lr=0.07035737028722146", "sched.chain.step.step_size=4", "seed=12345678901"]
    name = run_name(config, drawn, ["optim.lr", "sched.chain.step.step_size", "seed"])
    assert name == "optim.lr=0.07036,sched.chain.step.step_size=4,seed=12345678901"
    assert short(name) == name[:47] + "…" and len(short(name)) == 48
