"""What a run records in MLflow besides metrics: the datasets it used and the trained model."""

from __future__ import annotations

import copy
import hashlib
import os
from typing import Any

import torch
from torch import nn

from lrchain.data import DIGITS_SOURCE, Data, Split

URI_ENV = "MLFLOW_TRACKING_URI"
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
    from mlflow.data.dataset_source_registry import get_registered_sources
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.types import Schema, TensorSpec

    part: Split = getattr(data, split)
    if data.source == DIGITS_SOURCE:
        source = CodeDatasetSource({"loader": DIGITS_SOURCE})
    else:
        # The folder the files were read from; MLflow registers its local class twice (file, "").
        local = next(s for s in get_registered_sources() if s._get_source_type() == "local")
        source = local(data.source)
    schema = Schema(
        [
            TensorSpec(part.x[:1].cpu().numpy().dtype, (len(part), *data.shape), "image"),
            TensorSpec(part.y[:1].cpu().numpy().dtype, (len(part),), "label"),
        ]
    )
    return MetaDataset(source, name=data.name, digest=digest(part), schema=schema)


def log_dataset_inputs(client: Any, run_id: str, data: Data) -> None:
    """Record every split of `data` as a dataset input of the run, tagged with its context."""
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    inputs = [
        DatasetInput(
            dataset_input(data, split)._to_mlflow_entity(),
            tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)],
        )
        for split, context in CONTEXTS.items()
        if getattr(data, split) is not None
    ]
    client.log_inputs(run_id, datasets=inputs)


def log_model(client: Any, run_id: str, model: nn.Module, example: torch.Tensor) -> str:
    """Log `model` (in eval mode, on the CPU) to the run with an input example and signature.

    Returns the model URI that `mlflow.pytorch.load_model` takes.
    """
    import mlflow
    import mlflow.pytorch
    from mlflow.models import infer_signature

    cpu_model = copy.deepcopy(model).cpu().eval()
    example = example[:4].detach().cpu()  # a batch above 1 keeps the batch dimension dynamic
    with torch.inference_mode():
        output = cpu_model(example)
    signature = infer_signature(example.numpy(), output.numpy())
    env_uri = os.environ.get(URI_ENV)  # set_tracking_uri also sets it; the next job reads it
    mlflow.set_tracking_uri(client.tracking_uri)
    try:
        # mlflow.pytorch logs into the active run: resume ours briefly, and leave none active.
        with mlflow.start_run(run_id=run_id):
            info = mlflow.pytorch.log_model(
                cpu_model,
                name="model",
                input_example=example.numpy(),
                signature=signature,
                pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
            )
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # back to "none set": env decides
        if env_uri is not None:
            os.environ[URI_ENV] = env_uri
    return info.model_uri
