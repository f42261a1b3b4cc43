"""The callback that lets the strategy act at epoch ends (before records and checkpoints are written)."""

from __future__ import annotations

import pytorch_lightning as pl

from trainfix.strategies.base import Strategy


class StrategyDriver(pl.Callback):
    """Calls the strategy's training hooks (train start/end, epoch start/end, batch end) and hands its
    metrics to the module for the epoch record."""

    def __init__(self, strategy: Strategy) -> None:
        self.strategy = strategy

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.strategy.on_train_start(trainer, pl_module)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.strategy.on_train_epoch_start(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.strategy.on_train_end(trainer, pl_module)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        self.strategy.on_train_batch_end(trainer, pl_module)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        pl_module.strategy_epoch_metrics = self.strategy.on_train_epoch_end(trainer.current_epoch, trainer, pl_module)
