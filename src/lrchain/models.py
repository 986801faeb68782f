"""Models and optimizers built from config."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from lrchain.errors import ConfigError

MODELS = ("cnn",)
OPTIMIZERS = ("sgd", "adamw")


def build_model(cfg: Mapping, shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """The model named by `cfg['name']` for images of `shape` (C, H, W)."""
    if cfg["name"] not in MODELS:
        raise ConfigError(f"model.name: unknown model {cfg['name']!r}; known: {', '.join(MODELS)}")
    return small_cnn(shape[0], num_classes, cfg["width"], cfg["hidden"])


def small_cnn(channels: int, num_classes: int, width: int, hidden: int) -> nn.Module:
    """Two 3x3 conv layers with batch norm, a 2x2 pooling, then two dense layers."""
    return nn.Sequential(
        nn.Conv2d(channels, width, 3, padding=1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
        nn.Conv2d(width, 2 * width, 3, padding=1, bias=False),
        nn.BatchNorm2d(2 * width),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(2 * width * 16, hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, num_classes),
    )


def build_optimizer(cfg: Mapping, params) -> torch.optim.Optimizer:
    """The optimizer named by `cfg['name']` over `params`."""
    name, lr = cfg["name"], cfg["lr"]
    if name not in OPTIMIZERS:
        raise ConfigError(f"optim.name: unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")
    if not isinstance(lr, (int, float)) or lr <= 0:
        raise ConfigError(f"optim.lr: must be a positive number, got {lr!r}")
    if name == "sgd":
        return torch.optim.SGD(
            params,
            lr=lr,
            momentum=cfg["momentum"],
            weight_decay=cfg["weight_decay"],
            nesterov=cfg["nesterov"],
        )
    return torch.optim.AdamW(
        params, lr=lr, betas=tuple(cfg["betas"]), weight_decay=cfg["weight_decay"]
    )
