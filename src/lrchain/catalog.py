"""What lrchain builds by name: datasets, models and optimizers (schedulers: lrchain.schedules)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# Dataset name -> (official training images before the validation split, image channels).
DATASETS = {
    "digits": (1797, 1),
    "mnist": (60000, 1),
    "fashion_mnist": (60000, 1),
    "cifar10": (50000, 3),
}
MODELS = ("cnn", "mlp", "resnet18")
OPTIMIZERS = ("sgd", "adamw")


def available_images(data: Mapping[str, Any]) -> int:
    """Training images left after the validation split of the dataset `data` names."""
    total = DATASETS[data["name"]][0]
    return total - math.ceil(total * data["val_fraction"])


def train_size(data: Mapping[str, Any]) -> int:
    """How many training images `data` gives, without loading them."""
    subset = data.get("subset")
    return available_images(data) if subset is None else subset
