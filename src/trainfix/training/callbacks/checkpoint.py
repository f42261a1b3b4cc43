"""Epoch-end checkpoints written atomically, keeping the previous epoch's beside the last."""

from __future__ import annotations

import os
from pathlib import Path

import pytorch_lightning as pl

from trainfix.core.records import CHECKPOINT_DIR, LAST_CHECKPOINT, PREVIOUS_CHECKPOINT


class LastCheckpoint(pl.Callback):
    """Writes `checkpoints/last.ckpt` after every training epoch (temp file, then rename), and keeps the
    one it replaces as `checkpoints/previous.ckpt`, so a damaged last checkpoint costs one epoch, not the run.

    The checkpoint holds what an identical resume needs: weights, optimizer and scheduler state,
    loop progress, the datamodule's augmentation generator, the strategy's state and the global
    RNG states (see `Classifier.on_save_checkpoint`). Place it after the callbacks that update
    state at epoch end (strategy driver, recorder).
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / CHECKPOINT_DIR / LAST_CHECKPOINT
        self.previous = self.path.with_name(PREVIOUS_CHECKPOINT)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        if trainer.is_global_zero:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        trainer.strategy.barrier("trainfix.checkpoint.mkdir")
        try:
            trainer.save_checkpoint(tmp, weights_only=False)
        except BaseException:
            tmp.unlink(missing_ok=True)  # a partial file (disk full) must not linger; last.ckpt is untouched
            raise
        if trainer.is_global_zero:
            # Each rename is atomic; a kill between them leaves previous.ckpt (and the complete tmp file).
            if self.path.exists():
                os.replace(self.path, self.previous)
            os.replace(tmp, self.path)
        trainer.strategy.barrier("trainfix.checkpoint")
