"""The callback that writes a run's records: `run.json` at start and end, a `metrics.csv` row per epoch.

Each row is also logged through Lightning (`Classifier.log_epoch`), so loggers get the same numbers.
Rows are written by global rank 0 only; metrics are synced over ranks before that (torchmetrics).
On resume the rows of epochs after the checkpoint are dropped, so the file matches the restored state.
A non-finite training loss stops the run with status `diverged`; Ctrl+C or SIGTERM ends it as
`interrupted`. run.json's `attempts` lists every attempt: start, end, outcome (finished, failed with
the error, interrupted, diverged, or killed when its process died), the epoch it resumed from, any
checkpoint that could not be loaded and the invocation's Hydra overrides.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.utilities.exceptions import SIGTERMException

from trainfix.core.records import (
    FINISHED,
    code_state,
    host_facts,
    now_iso,
    package_versions,
    read_metrics,
    read_run,
    write_metrics,
    write_run,
)

log = logging.getLogger(__name__)


class RunRecorder(pl.Callback):
    """Keeps `run.json` and `metrics.csv` in `run_dir` up to date.

    Args:
        run_dir: the run folder.
        config: the resolved run configuration (a plain dict), stored in run.json.
        data: facts on the data actually loaded (label, source, official, counts).
        seed: the run's seed.
        attempt: facts on this attempt for run.json's `attempts` list (action, resumed_from_epoch,
            checkpoint problems); its outcome and end time are added when it ends.
    """

    def __init__(
        self,
        run_dir: Path,
        config: dict[str, Any],
        data: dict[str, Any],
        seed: int,
        attempt: dict[str, Any] | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.attempt = dict(attempt or {})
        self._attempt_open = False
        self.config = config
        self.data = data
        self.seed = seed
        self.rows: list[dict[str, Any]] = []
        self.status = "running"
        self._train_start = 0.0
        self._train_end: float | None = None

    # ------------------------------------------------------------------ run.json
    def _record(self, trainer: pl.Trainer, status: str, **extra: Any) -> None:
        if not trainer.is_global_zero:
            return
        previous = read_run(self.run_dir) or {}
        attempts = attempt_list(previous.get("attempts"))
        if status == "running" and not self._attempt_open:
            close_open_attempts(attempts, "killed")
            attempts.append(
                {
                    "start": now_iso(),
                    "resumed_from_epoch": trainer.current_epoch if trainer.current_epoch else None,
                    **self.attempt,
                }
            )
            self._attempt_open = True
        elif status != "running" and attempts:
            attempts[-1].update(end=now_iso(), outcome=status, epochs_completed=len(self.rows))
            if "error" in extra:
                attempts[-1]["error"] = extra["error"]
        record = {
            "status": status,
            "run_dir": str(self.run_dir.resolve()),
            "seed": self.seed,
            "config": self.config,
            "data": self.data,
            "versions": package_versions(),
            "code": code_state(),
            "host": host_facts(str(trainer.strategy.root_device)),
            "world_size": trainer.world_size,
            "start_time": previous.get("start_time", now_iso()),
            "attempts": attempts,
            "epochs_completed": len(self.rows),
            "end_time": None if status == "running" else now_iso(),
        }
        # The W&B run this run logs to, so a resume continues it (see callbacks/run_loggers.py).
        wandb_id = next(
            (logger.version for logger in trainer.loggers if isinstance(logger, WandbLogger)), None
        ) or previous.get("wandb_id")
        if wandb_id:
            record["wandb_id"] = wandb_id
        record.update(extra)
        write_run(self.run_dir, record)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Called after a checkpoint's loop state is restored: current_epoch is the first epoch to run.
        existing = read_metrics(self.run_dir)
        self.rows = [row for row in existing.to_dict("records") if int(row["epoch"]) < trainer.current_epoch]
        if trainer.is_global_zero and self.rows != existing.to_dict("records"):
            write_metrics(self.run_dir, self.rows)
        pl_module.restore_best(self.rows)
        self._record(trainer, "running")

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.status == "running":
            self.status = FINISHED
        self._record(trainer, self.status)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        # Ctrl+C and SIGTERM (Lightning raises SIGTERMException after the current step) are interruptions.
        self.status = "interrupted" if isinstance(exception, KeyboardInterrupt | SIGTERMException) else "failed"
        try:
            self._record(trainer, self.status, error=f"{type(exception).__name__}: {exception}")
        except OSError as write_error:  # a full or vanished disk may be the exception itself: keep it visible
            log.error("Could not record the %s run in %s: %s", self.status, self.run_dir, write_error)

    # ----------------------------------------------------------------- per epoch
    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        _synchronize(trainer)
        self._train_start = time.perf_counter()
        self._train_end = None

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.training or self._train_end is None:
            _synchronize(trainer)
            self._train_end = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        _synchronize(trainer)
        end = time.perf_counter()
        train_end = self._train_end if self._train_end is not None else end
        row = pl_module.epoch_row()
        row["epoch_time_s"] = train_end - self._train_start
        row["eval_time_s"] = end - train_end
        pl_module.epoch_record = row
        self.rows.append(row)
        if trainer.is_global_zero:
            write_metrics(self.run_dir, self.rows)
        pl_module.log_epoch(row)  # the same numbers, to Lightning's loggers, progress bar and callbacks
        if not math.isfinite(row["train_loss"]):
            self.status = "diverged"
            trainer.should_stop = True


def attempt_list(value: Any) -> list[dict[str, Any]]:
    """run.json's `attempts` as a list (records written before attempts were itemized held a count)."""
    if isinstance(value, list):
        return [dict(a) for a in value]
    return [{"outcome": "unknown"} for _ in range(int(value or 0))]


def close_open_attempts(attempts: list[dict[str, Any]], outcome: str) -> None:
    """Give every attempt that never recorded its end (its process died) the outcome `outcome`."""
    for attempt in attempts:
        attempt.setdefault("outcome", outcome)


def _synchronize(trainer: pl.Trainer) -> None:
    if trainer.strategy.root_device.type == "cuda":
        torch.cuda.synchronize(trainer.strategy.root_device)
