"""Fixtures of the integration tier (in-process training on real data)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import pytorch_lightning as pl

from tests.integration.cpu_ranks import BARE_FIT


@pytest.fixture
def fit_one_epoch(tmp_path: Path) -> Callable[[pl.LightningModule, pl.LightningDataModule], pl.Trainer]:
    """fit_one_epoch(module, datamodule): one epoch in this process on the CPU, in the plan sampler's batches,
    with no validation, logger, checkpoint or progress bar; returns the trainer."""

    def fit(module: pl.LightningModule, datamodule: pl.LightningDataModule) -> pl.Trainer:
        trainer = pl.Trainer(accelerator="cpu", max_epochs=1, default_root_dir=str(tmp_path), **BARE_FIT)
        trainer.fit(module, datamodule=datamodule)
        return trainer

    return fit
