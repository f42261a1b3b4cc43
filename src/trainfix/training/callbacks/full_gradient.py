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

The pass runs at the end of each epoch's validation (before the LightningModule's
`on_validation_epoch_end`, at the weights the epoch ends with). When the run also measures
`train_eval_*` (`data.eval_train=true`: the whole training set in eval mode), the pass's logits feed
those metrics exactly as `validation_step` would and the datamodule drops the train_eval loader:
the same forward pass is not run twice (measured: ~9 % of a DeepEutaxy epoch on this CPU).
An epoch without validation still gets its gradient, in `on_train_epoch_end`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from trainfix.data.datamodule import ImageDataModule

FULL_GRADIENT_COLUMN = "grad_norm_full"


def full_data_gradient(
    module: pl.LightningModule,
    datamodule: ImageDataModule,
    chunk_size: int,
    rank: int = 0,
    world: int = 1,
    reduce_sum=None,
    on_logits: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], None] | None = None,
) -> list[torch.Tensor]:
    """Per trainable parameter of `module.net`: the mean over the training set of the per-sample
    cross-entropy gradient (eval mode, no L2 penalty). `reduce_sum` all-reduces a tensor under DDP;
    `on_logits(logits, losses, labels)` sees each chunk's (detached) logits and per-sample losses."""
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
            logits = module(x)
            losses = F.cross_entropy(logits.float(), y, reduction="none")
            grads = torch.autograd.grad(losses.sum(), params, allow_unused=True)
            if on_logits is not None:
                on_logits(logits.detach(), losses.detach(), y)
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
    """Puts `grad_norm_full` and `full_gradient_time_s` into the epoch record (and, with
    `data.eval_train=true`, computes `train_eval_*` from the same pass: see the module docstring).

    Place it after the strategy driver and before the run recorder (the recorder writes the row).

    Args:
        chunk_size: samples per forward/backward chunk (memory only: the result does not depend on it).
    """

    def __init__(self, chunk_size: int = 1000) -> None:
        if not (isinstance(chunk_size, int) and chunk_size >= 1):
            raise ValueError(f"convergence.full_gradient_chunk={chunk_size!r}: must be an integer >= 1")
        self.chunk_size = chunk_size
        self._train_eval_index: int | None = None
        self._measured: tuple[int, dict[str, float]] | None = None  # (epoch, metrics) of this epoch's pass

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        datamodule = trainer.datamodule
        names = tuple(getattr(pl_module, "eval_names", ()))
        self._train_eval_index = None
        if stage == "fit" and "train_eval" in names and "train_eval" in getattr(datamodule, "eval_names", ()):
            if names[-1] != "train_eval" or tuple(datamodule.eval_names) != names:
                raise RuntimeError(
                    "train_eval must be the last evaluation set of the module and the datamodule; "
                    f"got {names} and {datamodule.eval_names}"
                )
            self._train_eval_index = len(names) - 1
            datamodule.train_eval_in_gradient_pass = True

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit" and trainer.datamodule is not None:
            trainer.datamodule.train_eval_in_gradient_pass = False

    def _measure(self, trainer: pl.Trainer, pl_module: pl.LightningModule, with_train_eval: bool) -> None:
        start = time.perf_counter()
        world = trainer.world_size

        def reduce_sum(t: torch.Tensor) -> torch.Tensor:
            return trainer.strategy.reduce(t, reduce_op="sum")

        on_logits = None
        if with_train_eval:
            loss_metric = pl_module.eval_loss[self._train_eval_index]
            acc_metric = pl_module.eval_acc[self._train_eval_index]

            def on_logits(logits: torch.Tensor, losses: torch.Tensor, y: torch.Tensor) -> None:
                with (
                    torch.inference_mode()
                ):  # as validation_step updates them (the metric states are inference tensors)
                    loss_metric.update(losses)
                    acc_metric.update(logits, y)

        with torch.inference_mode(False), torch.enable_grad():
            grads = full_data_gradient(
                pl_module,
                trainer.datamodule,
                self.chunk_size,
                trainer.global_rank,
                world,
                reduce_sum if world > 1 else None,
                on_logits,
            )
        norm = gradient_norm(grads)  # a host sync: the time below includes the device work
        self._measured = (
            trainer.current_epoch,
            {FULL_GRADIENT_COLUMN: norm, "full_gradient_time_s": time.perf_counter() - start},
        )

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Runs before the module's on_validation_epoch_end, which computes the train_eval metrics fed here.
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        self._measure(trainer, pl_module, with_train_eval=self._train_eval_index is not None)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._measured is None or self._measured[0] != trainer.current_epoch:
            self._measure(trainer, pl_module, with_train_eval=False)  # no validation this epoch
        pl_module.extra_epoch_metrics = dict(self._measured[1])
