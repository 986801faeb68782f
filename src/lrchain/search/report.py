"""The study in MLflow: the sweep's parent run names it, and at the end holds its best trial,
Optuna's figures and optimization_results.yaml (also written into the sweep folder)."""

from __future__ import annotations

import sys
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

from lrchain.contract import SEARCH_ARTIFACTS, SEARCH_RESULTS, TAG_STUDY
from lrchain.search.study import Search, shown


def announce(client: Any, parent_id: str, search: Search) -> None:
    """The parent run named after the study, with the study's name and storage as params."""
    from mlflow.entities import Param

    settings, study = search.settings, search.study
    last = search.first + settings.n_trials - 1
    params = {
        "search.study": study.study_name,
        "search.storage": shown(search.storage),
        "search.objective": f"{settings.objective} ({settings.objective_epoch} epoch)",
        "search.direction": settings.direction,
        "search.trials": f"{search.first}-{last}",
    }
    client.log_batch(parent_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
    client.set_tag(parent_id, TAG_STUDY, study.study_name)
    client.update_run(parent_id, name=f"study {study.study_name}: trials {search.first}-{last}")


def results(search: Search, epochs: int) -> dict[str, Any]:
    """What optimization_results.yaml holds: the best trial of the whole study, and what this
    invocation's trials cost (epochs trained, against every trial running all `epochs`)."""
    study, settings = search.study, search.settings
    trials = study.get_trials(deepcopy=False)
    ours = [t for t in trials if t.number >= search.first]
    states = Counter(t.state.name.lower() for t in ours)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    best = study.best_trial if complete else None
    trained = sum(len(t.intermediate_values) for t in ours)
    pruned = [t for t in ours if t.state.name == "PRUNED"]
    skipped = sum(max(0, epochs - len(t.intermediate_values)) for t in pruned)
    return {
        "study": study.study_name,
        "storage": shown(search.storage),
        "objective": settings.objective,
        "objective_epoch": settings.objective_epoch,
        "direction": settings.direction,
        "best_trial": best.number if best else None,
        "best_value": best.value if best else None,
        "best_params": dict(best.params) if best else {},
        "trials": {"this_invocation": len(ours), "in_study": len(trials), **dict(states)},
        "epochs": {"trained": trained, "budget": len(ours) * epochs, "pruned_away": skipped},
    }


def record(client: Any, parent_id: str | None, search: Search, folder: Path, epochs: int) -> dict:
    """Results and figures into `folder` and, when there is one, the parent run; never fatal."""
    import yaml

    found = results(search, epochs)
    out = folder / SEARCH_ARTIFACTS
    out.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(found, sort_keys=False)
    (folder / SEARCH_RESULTS).write_text(text)
    (out / SEARCH_RESULTS).write_text(text)
    draw_figures(search.study, out)
    print(summary(found), flush=True)
    if parent_id is None:
        return found
    try:
        log_best(client, parent_id, found)
        client.log_artifacts(parent_id, str(out), SEARCH_ARTIFACTS)
    except Exception as err:  # the trials are logged; a store gone quiet must not lose them
        print(f"[lrchain] warning: the study's results not logged: {err}", file=sys.stderr)
    return found


def log_best(client: Any, parent_id: str, found: dict[str, Any]) -> None:
    """Params best.KEY and best.trial; metrics best/OBJECTIVE and search/epochs_*."""
    from mlflow.entities import Metric, Param

    params = {f"best.{k}": v for k, v in found["best_params"].items()}
    if found["best_trial"] is not None:
        params["best.trial"] = found["best_trial"]
    metrics = {f"search/epochs_{k}": v for k, v in found["epochs"].items()}
    if found["best_value"] is not None:
        metrics[f"best/{found['objective']}"] = found["best_value"]
    client.log_batch(
        parent_id,
        metrics=[Metric(k, float(v), 0, 0) for k, v in metrics.items()],
        params=[Param(k, str(v)) for k, v in params.items()],
    )


def draw_figures(study: Any, out: Path) -> list[str]:
    """Optuna's own matplotlib figures of the study; one it cannot draw is skipped, named."""
    import matplotlib

    matplotlib.use("Agg")
    # Optuna switches matplotlib to its "ggplot" style when it draws: keep that here,
    # out of the comparison's figures drawn after these
    with matplotlib.rc_context():
        return _draw(study, out)


def _draw(study: Any, out: Path) -> list[str]:
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as draw

    drawers = {
        "optimization_history": draw.plot_optimization_history,
        "param_importances": draw.plot_param_importances,
        "parallel_coordinate": draw.plot_parallel_coordinate,
        "intermediate": draw.plot_intermediate_values,
    }
    drawn = []
    for name, plot in drawers.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ExperimentalWarning on every call
                axes = plot(study)
            if name == "intermediate" and _positive(study):  # losses: a diverging start
                axes.set_yscale("log")  # would flatten every other curve
            figure = axes.figure
            figure.set_size_inches(8, 5)
            figure.savefig(out / f"{name}.png", dpi=100, bbox_inches="tight")
            plt.close(figure)
            drawn.append(name)
        except Exception as err:  # too few finished trials for it, typically
            print(f"[lrchain] no {name} figure: {type(err).__name__}: {err}", file=sys.stderr)
    return drawn


def _positive(study: Any) -> bool:
    values = [v for t in study.get_trials(deepcopy=False) for v in t.intermediate_values.values()]
    return bool(values) and min(values) > 0


def summary(found: dict[str, Any]) -> str:
    """The search in two lines: its trials and epochs, then the best trial."""
    trials, epochs = found["trials"], found["epochs"]
    states = ", ".join(
        f"{trials[s]} {s}" for s in ("complete", "pruned", "fail", "running") if s in trials
    ).replace(" fail", " failed")
    lines = [
        f"[lrchain] study {found['study']!r}: {trials['this_invocation']} trials ({states});"
        f" {epochs['trained']} of {epochs['budget']} epochs trained, {epochs['pruned_away']}"
        " left out by pruning"
    ]
    if found["best_trial"] is not None:
        params = " ".join(f"{k}={v}" for k, v in found["best_params"].items())
        lines.append(
            f"[lrchain] best trial {found['best_trial']}: {found['objective']}"
            f" {found['best_value']:.4g} with {params}"
        )
    return "\n".join(lines)
