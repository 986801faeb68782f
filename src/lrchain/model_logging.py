"""What a run records in MLflow besides metrics: the datasets it used and the trained model."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import torch
from torch import nn

from lrchain.data import DIGITS_SOURCE, Data, Split

CONTEXTS = {"train": "train", "val": "val", "test": "test"}  # split -> mlflow.data.context tag


def digest(split: Split) -> str:
    """A short fingerprint of a split: its shape, every label, and about 256 of its images."""
    step = max(1, len(split) // 256)
    sha = hashlib.sha256(str(tuple(split.x.shape)).encode())
    sha.update(split.y.cpu().numpy().tobytes())
    sha.update(split.x[::step].cpu().numpy().tobytes())
    return sha.hexdigest()[:8]


def dataset_input(data: Data, split: str = "train") -> Any:
    """An MLflow dataset describing one split of `data`: name, source, digest and shape."""
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.dataset_source_registry import get_dataset_source_from_json
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.types import Schema, TensorSpec

    part: Split = getattr(data, split)
    if data.source == DIGITS_SOURCE:
        source = CodeDatasetSource({"loader": DIGITS_SOURCE})
    else:  # the folder the files were read from
        source = get_dataset_source_from_json(json.dumps({"uri": data.source}), "local")
    schema = Schema(
        [
            TensorSpec(part.x[:1].cpu().numpy().dtype, (len(part), *data.shape), "image"),
            TensorSpec(part.y[:1].cpu().numpy().dtype, (len(part),), "label"),
        ]
    )
    return MetaDataset(source, name=data.name, digest=digest(part), schema=schema)


def log_dataset_inputs(client: Any, run_id: str, data: Data) -> None:
    """Record every split of `data` as a dataset input of the run, tagged with its context."""
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    inputs = [
        DatasetInput(
            Dataset(**dataset_input(data, split).to_dict()),
            tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)],
        )
        for split, context in CONTEXTS.items()
        if getattr(data, split) is not None
    ]
    for attempt in range(RACES):
        try:
            client.log_inputs(run_id, datasets=inputs)
            return
        except Exception as err:
            if attempt == RACES - 1 or not lost_a_race(err):
                raise


# MLflow's SQL store looks for the experiment's dataset, then inserts it if missing: two jobs that
# start together (lrchain's parallel sweep) both insert it, and one fails on the unique key, its
# whole write rolled back. Written again, it finds the other's dataset and links its run to it.
RACES = 3


def lost_a_race(err: Exception) -> bool:
    """Whether a write failed on a unique key another process wrote first (SQLite, PostgreSQL)."""
    text = str(err)
    return "IntegrityError" in text or "UniqueViolation" in text


def log_model(client: Any, run_id: str, model: nn.Module, example: torch.Tensor) -> str:
    """Log `model` (eval mode, on the CPU) as the run's model, with input example and signature.

    Saved with `mlflow.pytorch.save_model`, then recorded through `client` as an MLflow logged
    model of the run: no active run, no process-wide tracking URI. Returns its `models:/` URI.
    """
    import tempfile

    import mlflow.pytorch
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus
    from mlflow.models import infer_signature

    from lrchain.models import portable

    cpu_model = portable(copy.deepcopy(model)).cpu().eval()  # torch's layers: loads without lrchain
    example = example[:4].detach().cpu()  # a batch above 1 keeps the batch dimension dynamic
    with torch.inference_mode():
        output = cpu_model(example)
    experiment_id = client.get_run(run_id).info.experiment_id
    logged = client.create_logged_model(experiment_id, name="model", source_run_id=run_id)
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.pytorch.save_model(
            cpu_model,
            f"{tmp}/model",
            input_example=example.numpy(),
            signature=infer_signature(example.numpy(), output.numpy()),
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
        )
        client.log_model_artifacts(logged.model_id, f"{tmp}/model")
    client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
    return f"models:/{logged.model_id}"
