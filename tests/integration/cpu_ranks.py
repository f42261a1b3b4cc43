"""Training one LightningModule on 1 process or on N gloo ranks (`ddp_spawn` on CPU), logging what
each rank trained on, for the tests that compare an N-rank run with a 1-process run.

The spawned ranks inherit this process's environment, `OMP_NUM_THREADS=1` included (tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch


class RankLog(pl.Callback):
    """Saves, per rank, the sample indices `training_step` received step by step (`seen`), plus what
    `extra(pl_module)` returns at the end of training, to `out/rank<global rank>.pt`."""

    def __init__(self, out: Path, extra: Callable[[pl.LightningModule], dict[str, Any]]) -> None:
        self.out = out
        self.extra = extra
        self.seen: list[list[int]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.seen.append(batch["indices"].cpu().tolist())

    def on_train_end(self, trainer, pl_module):
        torch.save({"seen": self.seen, **self.extra(pl_module)}, self.out / f"rank{trainer.global_rank}.pt")


# The Trainer settings of every in-process fit of this tier: the plan sampler's batches (a strategy's plan, not
# Lightning's DistributedSampler), and no validation, logger, checkpoint or progress bar.
BARE_FIT: dict[str, Any] = {
    "use_distributed_sampler": False,
    "logger": False,
    "enable_checkpointing": False,
    "enable_progress_bar": False,
    "num_sanity_val_steps": 0,
    "limit_val_batches": 0,
}


def fit_on_cpu_ranks(
    module: pl.LightningModule,
    datamodule: pl.LightningDataModule,
    out: Path,
    devices: int,
    extra: Callable[[pl.LightningModule], dict[str, Any]],
    callbacks: tuple[pl.Callback, ...] = (),
    ddp: str = "ddp_spawn",
    **trainer_kwargs: Any,
) -> None:
    """Fit 2 epochs on `devices` CPU processes (gloo ranks through Lightning's `ddp` launch when > 1:
    `ddp_spawn`, what `trainer=ddp_cpu` uses, pickles the module into fresh interpreters; `ddp_fork`
    starts the ranks in about a second instead of re-importing torch in each), keeping the plan
    sampler's batches (`use_distributed_sampler=False`); no validation, logger or checkpoint. Each
    rank's `RankLog` goes to `out/rank<r>.pt`."""
    if ddp not in ("ddp_spawn", "ddp_fork"):
        raise ValueError(f"ddp={ddp!r}; accepted: 'ddp_spawn', 'ddp_fork'")
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=devices,
        strategy=ddp if devices > 1 else "auto",
        max_epochs=2,
        callbacks=[*callbacks, RankLog(out, extra)],
        **{**BARE_FIT, **trainer_kwargs},
    )
    trainer.fit(module, datamodule=datamodule)
