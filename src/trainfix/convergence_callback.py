"""The callback that records when DeepEutaxy's convergence criterion (Eq. 12) first holds."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytorch_lightning as pl

from trainfix.convergence import CONVERGENCE_FILE, READINGS
from trainfix.records import atomic_write_text


class Convergence(pl.Callback):
    """Records when Eq. 12 first holds, under both readings; optionally stops training then.

    Args:
        run_dir: the run folder (convergence.json is written there).
        epsilon: the threshold on the gradient L2 norm (0.01 in the paper).
        reading: the reading the tables use and `stop` follows: "last" or "mean".
        stop: stop training at the first converged epoch (the paper trains on to 200 epochs).
    """

    def __init__(self, run_dir: Path, epsilon: float = 0.01, reading: str = "last", stop: bool = False) -> None:
        if reading not in READINGS:
            raise ValueError(f"convergence.reading={reading!r} is not accepted; use one of {list(READINGS)}")
        if not epsilon > 0:
            raise ValueError(f"convergence.epsilon={epsilon!r}: must be > 0")
        self.path = Path(run_dir) / CONVERGENCE_FILE
        self.epsilon = epsilon
        self.reading = reading
        self.stop = stop
        self.first: dict[str, int | None] = {name: None for name in READINGS}

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # After a resume, start from what the recorded epochs say.
        if self.path.exists():
            saved = json.loads(self.path.read_text())
            self.first = {name: (e if e is not None and e < trainer.current_epoch else None) for name, e in saved["first_epoch"].items()}

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        record = pl_module.epoch_record
        for name, column in READINGS.items():
            if self.first[name] is None and not math.isnan(record[column]) and record[column] <= self.epsilon:
                self.first[name] = trainer.current_epoch
        if trainer.is_global_zero:
            content = {"epsilon": self.epsilon, "tables_use": self.reading, "first_epoch": self.first, "epochs_run": trainer.current_epoch + 1}
            atomic_write_text(self.path, json.dumps(content, indent=2) + "\n")
        if self.stop and self.first[self.reading] is not None:
            trainer.should_stop = True
