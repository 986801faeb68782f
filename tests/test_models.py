"""The models lrchain builds: the same numbers whatever shortcut their layers take."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lrchain.models import PoolTo, portable, small_cnn


def two_steps(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """Logits, gradients and weights after two SGD steps, as lrchain trains (channels last)."""
    model = model.to(memory_format=torch.channels_last)
    x = x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(2):
        logits = model(x)
        optimizer.zero_grad()
        F.cross_entropy(logits, y).backward()
        optimizer.step()
    grads = [p.grad for p in model.parameters()]
    return [logits.detach(), *grads, *model.state_dict().values()]


@pytest.mark.parametrize("side", [8, 28, 32])  # digits (already 4x4 there), MNIST, CIFAR-10
def test_the_cnn_computes_what_it_computed_with_adaptive_average_pooling(side: int):
    channels = 3 if side == 32 else 1
    x, y = torch.randn(16, channels, side, side), torch.randint(0, 10, (16,))
    torch.manual_seed(0)
    new = small_cnn(channels, 10, 8, 16)
    torch.manual_seed(0)
    old = small_cnn(channels, 10, 8, 16)
    (index,) = [i for i, layer in enumerate(old) if isinstance(layer, PoolTo)]
    old[index] = nn.AdaptiveAvgPool2d(4)
    assert old.state_dict().keys() == new.state_dict().keys()  # checkpoints load either way
    for got, want in zip(two_steps(new, x, y), two_steps(old, x, y), strict=True):
        assert torch.equal(got, want)


def test_pool_to_passes_an_input_of_its_size_and_pools_a_larger_one():
    x = torch.randn(2, 3, 4, 4)
    assert PoolTo(4)(x) is x
    assert PoolTo((4, 4))(x) is x
    assert PoolTo(4)(torch.randn(2, 3, 16, 16)).shape == (2, 3, 4, 4)


def test_a_portable_cnn_is_made_of_torch_layers_and_computes_the_same():
    x = torch.randn(4, 1, 8, 8)
    model = small_cnn(1, 10, 8, 16).eval()
    before = model(x)
    same = portable(model)
    assert same is model
    assert all(type(layer).__module__.startswith("torch.") for layer in model.modules())
    assert torch.equal(model(x), before)
