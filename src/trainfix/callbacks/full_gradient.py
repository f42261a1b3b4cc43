"""The gradient of the data loss over the whole training set at the end of each epoch.

DeepEutaxy's convergence criterion (Eq. 12, ||grad L||_2 <= epsilon) does not say which gradient.
The step gradients recorded during training (`grad_norm_last`, `grad_norm_mean`) depend on the
batch (under DE the last batch is always the least diverse one), on SPL's mask (a batch with one
selected sample has a tiny gradient) and include the L2 penalty's gradient (0.0079 by itself for
ResNet-20 at initialization, against epsilon = 0.01). This module measures the reading that needs
the whole training set in play:

    g = (1 / N) * sum_i grad_theta CE(f_theta(x_i), y_i)      over all N training samples

at the weights the epoch ends with: one extra forward/backward pass, no optimizer step, no `.grad`
written (`torch.autograd.grad`), the network in evaluation mode (dropout off, BatchNorm with its
running statistics, so g is a function of the weights alone, independent of how the pass is
chunked, and no BatchNorm buffer or RNG state changes). Sum of per-chunk gradients of the summed
loss, divided by N; under DDP each rank takes every world-th chunk and the sums are all-reduced.
The result is the metrics.csv column `grad_norm_full` (and `full_gradient_time_s`, its cost).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from trainfix.data.datamodule import ImageDataModule

FULL_GRADIENT_COLUMN = "grad_norm_full"


def full_data_gradient(module: pl.LightningModule, datamodule: ImageDataModule, chunk_size: int,
                       rank: int = 0, world: int = 1, reduce_sum=None) -> list[torch.Tensor]:
    """Per trainable parameter of `module.net`: the mean over the training set of the per-sample
    cross-entropy gradient (eval mode, no L2 penalty). `reduce_sum` all-reduces a tensor under DDP."""
    params = [p for p in module.net.parameters() if p.requires_grad]
    sums = [torch.zeros_like(p, dtype=torch.float64) for p in params]
    count = torch.zeros((), dtype=torch.float64, device=params[0].device)
    n = len(datamodule.splits["train"].labels)
    starts = range(rank * chunk_size, n, world * chunk_size)
    was_training = module.training
    module.train(False)
    try:
        for start in starts:
            indices = torch.arange(start, min(start + chunk_size, n))
            x, y = datamodule.gather("train", indices)
            loss = F.cross_entropy(module(x).float(), y, reduction="sum")
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            for total, grad in zip(sums, grads, strict=True):
                if grad is not None:
                    total += grad.double()
            count += len(indices)
    finally:
        module.train(was_training)
    if reduce_sum is not None:
        sums = [reduce_sum(s) for s in sums]
        count = reduce_sum(count)
    return [s / count for s in sums]


def gradient_norm(grads: list[torch.Tensor]) -> float:
    """The L2 norm over all tensors together (as `grad_norm_last` is taken)."""
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))


class FullGradientNorm(pl.Callback):
    """Puts `grad_norm_full` and `full_gradient_time_s` into the epoch record.

    Place it after the strategy driver and before the run recorder (the recorder writes the row).

    Args:
        chunk_size: samples per forward/backward chunk (memory only: the result does not depend on it).
    """

    def __init__(self, chunk_size: int = 1000) -> None:
        if not (isinstance(chunk_size, int) and chunk_size >= 1):
            raise ValueError(f"convergence.full_gradient_chunk={chunk_size!r}: must be an integer >= 1")
        self.chunk_size = chunk_size

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        start = time.perf_counter()
        world = trainer.world_size

        def reduce_sum(t: torch.Tensor) -> torch.Tensor:
            return trainer.strategy.reduce(t, reduce_op="sum")

        grads = full_data_gradient(pl_module, trainer.datamodule, self.chunk_size, trainer.global_rank, world,
                                   reduce_sum if world > 1 else None)
        norm = gradient_norm(grads)  # a host sync: the time below includes the device work
        pl_module.extra_epoch_metrics = {FULL_GRADIENT_COLUMN: norm, "full_gradient_time_s": time.perf_counter() - start}
