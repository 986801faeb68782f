"""Models and optimizers built from config (names and values checked by lrchain.validate)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import torch
from torch import nn

from lrchain.param_groups import param_groups, scratch_groups


def build_model(cfg: Mapping, shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """The model named by `cfg['name']` for images of `shape` (C, H, W)."""
    name = cfg["name"]
    if name == "mlp":
        return mlp(math.prod(shape), num_classes, cfg["hidden"], cfg["depth"])
    if name == "resnet18":
        return small_resnet18(shape[0], num_classes)
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
        PoolTo(4),
        nn.Flatten(),
        nn.Linear(2 * width * 16, hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, num_classes),
    )


class PoolTo(nn.AdaptiveAvgPool2d):
    """Average-pools to `output_size`; an input of that size already passes as it is.

    The same numbers to the last bit (each output would be the mean of one value), without the
    pooling and its backward pass: about a tenth of a digits epoch, whose 8x8 images reach it
    as 4x4. Larger images (MNIST, CIFAR-10) are pooled as nn.AdaptiveAvgPool2d pools them.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = self.output_size if isinstance(self.output_size, tuple) else (self.output_size,) * 2
        if tuple(x.shape[-2:]) == size:
            return x
        return super().forward(x)


def portable(model: nn.Module) -> nn.Module:
    """`model`, changed in place, made of torch's own layers only: each PoolTo becomes the
    nn.AdaptiveAvgPool2d it stands for (the same numbers). A logged model then loads where
    torch is installed and lrchain is not."""
    for name, child in model.named_children():
        if isinstance(child, PoolTo):
            setattr(model, name, nn.AdaptiveAvgPool2d(child.output_size))
        else:
            portable(child)
    return model


def mlp(inputs: int, num_classes: int, hidden: int, depth: int) -> nn.Module:
    """The flattened image through `depth` dense ReLU layers of `hidden` units, then logits."""
    layers: list[nn.Module] = [nn.Flatten()]
    for i in range(depth):
        layers += [nn.Linear(inputs if i == 0 else hidden, hidden), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, nn.Linear(hidden, num_classes))


def small_resnet18(channels: int, num_classes: int) -> nn.Module:
    """torchvision's ResNet-18 with a small-image stem: a 3x3 stride-1 conv and no max-pool."""
    from torchvision.models import resnet18

    model = resnet18(num_classes=num_classes)
    # The ImageNet stem (7x7 stride 2, then max-pool) would shrink 32x32 inputs to 8x8 at once;
    # the new conv is initialised as torchvision initialises its convs.
    model.conv1 = nn.Conv2d(channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    model.maxpool = nn.Identity()
    return model


def build_optimizer(cfg: Mapping, params: Iterable) -> torch.optim.Optimizer:
    """The optimizer named by `cfg['name']` over `params` (tensors, or param groups)."""
    name, lr = cfg["name"], cfg["lr"]
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


def build_model_optimizer(cfg: Mapping, model: nn.Module) -> torch.optim.Optimizer:
    """The optimizer over `model`: one param group, or body and head (`optim.head_lr`)."""
    return build_optimizer(cfg, param_groups(cfg, model))


def scratch_optimizer(cfg: Mapping) -> torch.optim.Optimizer:
    """The configured optimizer and groups over empty tensors: drives a schedule without a model."""
    return build_optimizer(cfg, scratch_groups(cfg))
