"""The contract every training strategy honours (baseline, shuffle, DeepEutaxy, SPL, ...).

A strategy may
  (a) plan each epoch's batches: `plan_epoch(epoch)` -> ordered list of global index batches;
  (b) reduce per-sample losses to the step loss: `reduce_loss(...)` -> `Reduction` (weights over
      this rank's samples and the global normalizer, so shapes stay static and DDP is exact);
  (c) react at epoch ends (`on_train_epoch_end`) and keep state (`state_dict`) that is saved in
      every checkpoint, so an interrupted run resumes identically.
The training step calls these without `isinstance` checks or capability flags.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    import pytorch_lightning as pl


@dataclass
class Reduction:
    """How a step's per-sample losses become the step loss.

    step loss = sum_i weights_i * transform(loss_i) / global batch size, summed over all ranks'
    samples, where loss_i is the per-sample cross-entropy (with gradient).
    `weights=None` means all ones; `transform=None` keeps the cross-entropy. `skip_if_all_zero`: when
    every weight of the global batch is zero the optimizer does not step and the network is left
    exactly as it was (weights, optimizer state, BatchNorm buffers). Without it such a batch is an
    ordinary step on a zero data loss: the optimizer's counters and accumulators advance, as Keras'
    `train_on_batch` does.
    """

    weights: torch.Tensor | None = None
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None
    skip_if_all_zero: bool = False


class Strategy(ABC):
    """Base class: fixed contract, mean reduction, no state."""

    name: str = "strategy"
    # True when epochs may differ in length (a selection of samples): the trainer then rebuilds
    # the train loader every epoch so Lightning knows each epoch's number of batches.
    epoch_length_varies: bool = False
    # True when the strategy ranks, thresholds or scores with per-sample training losses (or BatchNorm
    # running statistics) that must equal one process's under DDP: the trainer then synchronizes
    # BatchNorm over the ranks when world size > 1 (trainfix.training.sync_batchnorm).
    needs_global_losses: bool = False

    def bind(self, num_samples: int, batch_size: int, seed: int) -> None:
        """Called once before training with the training-set size, global batch size and seed."""
        if num_samples < 1:
            raise ValueError(f"the training set is empty (num_samples={num_samples})")
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.seed = seed

    def num_batches(self) -> int:
        """Number of global batches per epoch (the last one may be smaller)."""
        return -(-self.num_samples // self.batch_size)

    @abstractmethod
    def plan_epoch(self, epoch: int) -> list[torch.Tensor]:
        """The ordered global index batches of epoch `epoch` (0-based)."""

    def reduce_loss(self, losses: torch.Tensor, indices: torch.Tensor, global_size: int) -> Reduction:
        """Mean over the global batch (the plain reduction)."""
        return Reduction()

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        """Called once when fitting starts (after a checkpoint is restored)."""

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        """Called before an epoch's first training step (its plan is known: `num_batches()`), e.g. to start
        side work."""

    def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        """Called once when fitting ends, e.g. to wait for side work."""

    def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        """Called after every training step (after the optimizer step), e.g. for interleaved side work."""

    def on_train_epoch_end(self, epoch: int, trainer: pl.Trainer, module: pl.LightningModule) -> dict[str, float]:
        """Update internal state after an epoch; return metrics to record for this epoch."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
