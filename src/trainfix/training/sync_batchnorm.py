"""SyncBatchNorm under DDP for the strategies that rank or threshold per-sample losses.

Trimming keeps the r largest losses of the global batch; SPL, SPL+DE, LEAP and SPLD select samples
by their training losses; DeepEutaxy scores batches with the network's BatchNorm running
statistics. Under DDP each rank's BatchNorm normalizes with its own slice of the batch, so the
losses themselves, and with them the kept set, differ from one process's. Such a strategy declares
`needs_global_losses`; with world size > 1 the network's BatchNorm layers are then synchronized
(`trainfix.models.sync_batchnorm.SyncBatchNorm`: torch's SyncBatchNorm on GPUs, the same arithmetic
with gloo all-reduces on CPUs) and N processes compute one process's losses.

`trainer.sync_batchnorm`: null (default: on exactly when the strategy needs global losses), true
(always, any strategy) or false (never: each rank's own statistics, the usual DDP behaviour).
The decision is Lightning's `LayerSync` plugin seam: the same hook as `Trainer(sync_batchnorm=True)`,
applied by Lightning's DDP strategies when fitting, never on one device.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import torch.distributed as dist
from pytorch_lightning.plugins.layer_sync import TorchSyncBatchNorm
from torch.nn import Module
from torch.nn.modules.batchnorm import _BatchNorm

from trainfix.models.sync_batchnorm import convert_sync_batchnorm, revert_sync_batchnorm

if TYPE_CHECKING:
    from trainfix.strategies.base import Strategy

log = logging.getLogger(__name__)


class BatchNormSync(TorchSyncBatchNorm):
    """Lightning's SyncBatchNorm plugin, with trainfix's layer (CPU too) and its reason.

    A subclass of `TorchSyncBatchNorm`, so Lightning takes it where `sync_batchnorm=True` would put its own.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def apply(self, model: Module) -> Module:
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
            return model
        model, _ = convert_sync_batchnorm(model)
        return model

    def revert(self, model: Module) -> Module:
        return revert_sync_batchnorm(model)


def batchnorm_sync(strategy: Strategy, setting: bool | None) -> BatchNormSync | None:
    """The plugin for `trainer.sync_batchnorm=setting` (null: the strategy's `needs_global_losses`)."""
    if setting is not None and not isinstance(setting, bool):
        raise ValueError(
            f"trainer.sync_batchnorm={setting!r}; accepted: null (when the strategy needs global losses), true, false"
        )
    if setting is False:
        return None
    if setting is True:
        return BatchNormSync("trainer.sync_batchnorm=true")
    if getattr(strategy, "needs_global_losses", False):
        return BatchNormSync(
            f"strategy {strategy.name} ranks or thresholds per-sample losses, "
            "which BatchNorm's batch statistics change (trainer.sync_batchnorm=false turns it off)"
        )
    return None


def count_batchnorm(model: Module) -> int:
    """BatchNorm layers in `model` (what the plugin would synchronize)."""
    return sum(isinstance(m, _BatchNorm) for m in model.modules())
