"""Training and evaluation loops; metrics per epoch go to whoever listens, never to MLflow here."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from lrchain.contract import EPOCH_SECONDS, TEST_ACC, TEST_LOSS, TRAIN_LOSS, VAL_ACC, VAL_LOSS
from lrchain.data import Data, Split, batches
from lrchain.param_groups import lr_keys
from lrchain.schedules import Schedule

# Told each epoch's index, metrics and per-batch lrs; returning True ends training after it.
EpochListener = Callable[[int, dict[str, float], list[float]], bool | None]


class Diverged(RuntimeError):
    """The loss became NaN or infinite: training cannot go on."""

    def __init__(self, epoch: int, metrics: dict[str, float]):
        super().__init__(f"the loss diverged at epoch {epoch}: {metrics}")
        self.epoch = epoch


def train_epoch(
    model: nn.Module,
    split: Split,
    optimizer: torch.optim.Optimizer,
    schedule: Schedule,
    batch_size: int,
    generator: torch.Generator,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    amp: bool = False,
) -> tuple[torch.Tensor, list[float]]:
    """One pass over `split` in shuffled batches, augmented if given `augment`; loss on device.

    `amp` runs the forward pass in bfloat16 autocast (CUDA); otherwise exact float32.
    """
    model.train()
    total = torch.zeros((), device=split.x.device)
    step_lrs = []
    for idx in batches(len(split), batch_size, split.x.device, generator):
        if schedule.uses_steps:
            step_lrs.append(optimizer.param_groups[0]["lr"])
        x = split.x[idx] if augment is None else augment(split.x[idx])
        with torch.autocast(split.x.device.type, dtype=torch.bfloat16, enabled=amp):
            loss = F.cross_entropy(model(x), split.y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.detach() * len(idx)
        if schedule.uses_steps:
            schedule.on_batch_end()
    return total / len(split), step_lrs


@torch.inference_mode()
def evaluate(
    model: nn.Module, split: Split, batch_size: int, amp: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean loss and accuracy over `split`, as device tensors."""
    model.eval()
    loss = torch.zeros((), device=split.x.device)
    correct = torch.zeros((), device=split.x.device)
    for idx in batches(len(split), batch_size, split.x.device):
        with torch.autocast(split.x.device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(split.x[idx])
        loss += F.cross_entropy(logits.float(), split.y[idx], reduction="sum")
        correct += (logits.argmax(1) == split.y[idx]).sum()
    return loss / len(split), correct / len(split)


def fit(
    model: nn.Module,
    data: Data,
    optimizer: torch.optim.Optimizer,
    schedule: Schedule,
    *,
    epochs: int,
    batch_size: int,
    generator: torch.Generator,
    on_epoch: EpochListener,
    start_epoch: int = 0,
    amp: bool = False,
) -> None:
    """Train for epochs [start_epoch, epochs): record lr, train, evaluate, step the schedule.

    Stops early when `on_epoch` returns True (a search's pruner).
    """
    for epoch in range(start_epoch, epochs):
        lrs = [group["lr"] for group in optimizer.param_groups]
        start = time.perf_counter()
        train_loss, step_lrs = train_epoch(
            model, data.train, optimizer, schedule, batch_size, generator, data.augment, amp
        )
        val_loss, val_acc = evaluate(model, data.val, batch_size * 4, amp)
        values = torch.stack([train_loss, val_loss, val_acc]).tolist()  # the epoch's one sync
        metrics = dict(zip(lr_keys(optimizer), lrs, strict=True))  # lr, and lr/head if any
        metrics |= dict(zip((TRAIN_LOSS, VAL_LOSS, VAL_ACC), values, strict=True))
        metrics[EPOCH_SECONDS] = time.perf_counter() - start
        if not all(math.isfinite(v) for v in values[:2]):
            raise Diverged(epoch, metrics)
        schedule.on_epoch_end(metrics)
        if epoch == epochs - 1 and data.test is not None:  # the official test set, once
            test_loss, test_acc = evaluate(model, data.test, batch_size * 4, amp)
            metrics[TEST_LOSS], metrics[TEST_ACC] = test_loss.item(), test_acc.item()
        if on_epoch(epoch, metrics, step_lrs):
            return
