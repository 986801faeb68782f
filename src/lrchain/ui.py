"""Links into MLflow's UI: a sweep's runs, and their learning rates side by side."""

from __future__ import annotations

import json
from collections.abc import Sequence
from urllib.parse import quote

LOCAL_UI = "http://127.0.0.1:5000"  # where `make ui` (mlflow ui) serves a local store


def ui_base(tracking_uri: str) -> str:
    """The UI's address: the tracking server itself, or `make ui`'s for a local store."""
    return tracking_uri.rstrip("/") if tracking_uri.startswith("http") else LOCAL_UI


def runs_link(base: str, experiment_id: str) -> str:
    """The experiment's runs view (MLflow 3 opens experiments on its GenAI overview otherwise)."""
    return f"{base}/#/experiments/{experiment_id}?workflowType=machine_learning"


def metric_link(base: str, experiment_id: str, run_ids: Sequence[str], metric: str) -> str:
    """One metric of several runs in one chart, by step, on a log scale.

    MLflow 3.17's metric page needs `plot_metric_keys` besides `metric` (without it: '"undefined"
    is not valid JSON'); the browser test opens this link and finds every run's curve.
    """

    def encoded(value: object) -> str:
        return quote(json.dumps(value, separators=(",", ":")))

    return (
        f"{base}/#/metric?runs={encoded(list(run_ids))}&metric={encoded(metric)}"
        f"&experiments={encoded([experiment_id])}&plot_metric_keys={encoded([metric])}"
        "&x_axis=step&y_axis_scale=log&show_point=true"
    )
