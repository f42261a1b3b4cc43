"""Epoch-end checkpoints written atomically, so a kill during a save never corrupts the last one."""

from __future__ import annotations

import os
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint

from trainfix.records import CHECKPOINT_DIR, LAST_CHECKPOINT


class LastCheckpoint(ModelCheckpoint):
    """`checkpoints/last.ckpt` after every epoch (model, optimizer, scheduler, strategy, RNG states)."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(
            dirpath=str(Path(run_dir) / CHECKPOINT_DIR),
            save_last=True,
            save_top_k=0,
            every_n_epochs=1,
            save_on_train_epoch_end=True,
            enable_version_counter=False,
        )

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        tmp = f"{filepath}.tmp"
        super()._save_checkpoint(trainer, tmp)
        if trainer.is_global_zero:
            os.replace(tmp, filepath)
        trainer.strategy.barrier("trainfix.checkpoint")
        self._last_checkpoint_saved = filepath


def last_checkpoint(run_dir: Path) -> Path | None:
    path = Path(run_dir) / CHECKPOINT_DIR / LAST_CHECKPOINT
    return path if path.exists() else None
