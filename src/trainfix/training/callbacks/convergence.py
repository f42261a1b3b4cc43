"""The convergence criterion of DeepEutaxy (Eq. 12): ||grad L||_2 <= epsilon, epsilon = 0.01.

The paper evaluates the gradient "in each step" and reports the first epoch that satisfies the
criterion; it does not say which gradient. Three readings:
`last` (the gradient norm of the epoch's last step, L2 penalty included), `mean` (the mean over the
epoch's steps), and `full` (the gradient of the data loss over the whole training set at the end of
the epoch, `grad_norm_full`: see `trainfix.training.callbacks.full_gradient`; it costs one extra pass and is
measured only with `full_gradient=True`). `full` is the one reading that neither a lucky last batch,
an SPL batch with one selected sample, nor the L2 penalty can satisfy. `convergence.json` in the run
folder holds the first epoch (0-based) of each recorded reading, which reading the tables use, and
epsilon. Training continues to max_epochs (the paper's 200)
unless `stop=True`. The callback `Convergence` records it per run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytorch_lightning as pl

from trainfix.core.records import atomic_write_text
from trainfix.training.callbacks.full_gradient import FULL_GRADIENT_COLUMN, FullGradientNorm

READINGS = {"last": "grad_norm_last", "mean": "grad_norm_mean", "full": FULL_GRADIENT_COLUMN}
CONVERGENCE_FILE = "convergence.json"


def first_converged_epoch(norms: list[float], epsilon: float) -> int | None:
    """The first index whose norm is <= epsilon, or None. NaN (an epoch without any optimizer
    step, e.g. SPL selected no sample) never counts as converged."""
    return next((epoch for epoch, norm in enumerate(norms) if not math.isnan(norm) and norm <= epsilon), None)


class Convergence(pl.Callback):
    """Records when Eq. 12 first holds, under each recorded reading; optionally stops training then.

    Args:
        run_dir: the run folder (convergence.json is written there).
        epsilon: the threshold on the gradient L2 norm (0.01 in the paper).
        reading: the reading `stop` follows and convergence.json names: "last", "mean" or "full".
        stop: stop training at the first converged epoch (the paper trains on to 200 epochs).
        full_gradient: measure `grad_norm_full` every epoch (one extra pass over the training set).
        full_gradient_chunk: samples per chunk of that pass (memory only).
    """

    def __init__(
        self,
        run_dir: Path,
        epsilon: float = 0.01,
        reading: str = "last",
        stop: bool = False,
        full_gradient: bool = False,
        full_gradient_chunk: int = 1000,
    ) -> None:
        if reading not in READINGS:
            raise ValueError(f"convergence.reading={reading!r} is not accepted; use one of {list(READINGS)}")
        if not epsilon > 0:
            raise ValueError(f"convergence.epsilon={epsilon!r}: must be > 0")
        if reading == "full" and not full_gradient:
            raise ValueError(
                "convergence.reading=full needs convergence.full_gradient=true (the full-set gradient is measured "
                "only then)"
            )
        self.path = Path(run_dir) / CONVERGENCE_FILE
        self.epsilon = epsilon
        self.reading = reading
        self.stop = stop
        self.full_gradient = FullGradientNorm(full_gradient_chunk) if full_gradient else None
        self.readings = {name: column for name, column in READINGS.items() if name != "full" or full_gradient}
        self.first: dict[str, int | None] = {name: None for name in self.readings}

    def measurements(self) -> list[pl.Callback]:
        """The callbacks that measure what this one reads, to be placed before the run recorder."""
        return [self.full_gradient] if self.full_gradient is not None else []

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # After a resume, start from what the recorded epochs say.
        if self.path.exists():
            saved = json.loads(self.path.read_text())
            saved_first = saved["first_epoch"]
            self.first = {
                name: (e if e is not None and e < trainer.current_epoch else None)
                for name in self.readings
                for e in [saved_first.get(name)]
            }

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        record = pl_module.epoch_record
        for name, column in self.readings.items():
            if self.first[name] is None and not math.isnan(record[column]) and record[column] <= self.epsilon:
                self.first[name] = trainer.current_epoch
        if trainer.is_global_zero:
            content = {
                "epsilon": self.epsilon,
                "tables_use": self.reading,
                "first_epoch": self.first,
                "epochs_run": trainer.current_epoch + 1,
            }
            atomic_write_text(self.path, json.dumps(content, indent=2) + "\n")
        if self.stop and self.first[self.reading] is not None:
            trainer.should_stop = True
