"""Readable console output: a log line per epoch, a final line, and the configuration tree.

    epoch 3/3 train_loss 1.7396 test_acc 0.5870 (best 0.5870) 0.4 s
    finished: test_acc 0.5870 (best 0.5870 at epoch 3) -> /abs/path/runs/train/<run name>

Epochs count from 1 here (metrics.csv's `epoch` column, and the loggers' x-axis, count from 0).
The lines go through `logging`, so Hydra writes them to the console and to the run's `train.log`.
Lightning's progress bar is on only when stderr is a terminal (`${trainfix_stderr_is_tty:}` in
conf/trainer/default.yaml): in a log file its frames are noise.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from trainfix.core.records import best_epoch, read_metrics, read_run

log = logging.getLogger(__name__)


def stderr_is_tty() -> bool:
    """Whether stderr (where the progress bar draws) is a terminal."""
    return sys.stderr.isatty()


def monitored_metric(val_fraction: float) -> str:
    """The metric that decides "best": validation accuracy when a validation split exists, else test accuracy."""
    return "val_acc" if float(val_fraction) > 0 else "test_acc"


def monitored_loss(val_fraction: float) -> str:
    """Keras' "val_loss": the validation split's loss when one exists, else the test set's."""
    return "val_loss" if float(val_fraction) > 0 else "test_loss"


# `${trainfix_stderr_is_tty:}`, `${trainfix_monitor:${data.val_fraction}}`, `${trainfix_eval_loss:...}` in conf/:
# registered with every other resolver by trainfix.training.compose.register_resolvers.
RESOLVERS = {
    "trainfix_stderr_is_tty": stderr_is_tty,
    "trainfix_monitor": monitored_metric,
    "trainfix_eval_loss": monitored_loss,
}


class EpochLog(pl.Callback):
    """Logs one line per epoch and a final line with the run's status. Place it after `RunRecorder`
    (it reads the epoch record and the status the recorder writes).

    Args:
        run_dir: the run folder (shown in the final line; run.json and metrics.csv are read there).
        metric: the evaluation metric shown with its best value, e.g. "test_acc" or "val_acc".
    """

    def __init__(self, run_dir: Path, metric: str = "test_acc") -> None:
        self.run_dir = Path(run_dir)
        self.metric = metric

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        row = pl_module.epoch_record
        parts = [f"epoch {row['epoch'] + 1}/{trainer.max_epochs}", f"train_loss {row['train_loss']:.4f}"]
        if self.metric in row:
            parts.append(f"{self.metric} {row[self.metric]:.4f}")
            best = pl_module.eval_best.get(f"{self.metric}_best")
            if best is not None:
                parts.append(f"(best {best:.4f})")
        parts.append(f"{row['epoch_time_s'] + row['eval_time_s']:.1f} s")
        log.info(" ".join(parts))

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._final_line(trainer)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._final_line(trainer)

    def _final_line(self, trainer: pl.Trainer) -> None:
        if not trainer.is_global_zero:
            return
        status = (read_run(self.run_dir) or {}).get("status", "failed")
        metrics = read_metrics(self.run_dir)
        text = f"{status}:"
        best = best_epoch(metrics, self.metric)
        if best is not None:
            last = metrics[self.metric].iloc[-1]
            text += f" {self.metric} {last:.4f} (best {best[0]:.4f} at epoch {best[1] + 1})"
        else:
            text += f" no {self.metric} recorded"
        log.info("%s -> %s", text, self.run_dir.resolve())


def print_config_tree(
    cfg: DictConfig, first: Sequence[str] = ("data", "model", "optimizer", "scheduler", "strategy", "trainer")
) -> None:
    """Print the composed configuration as a `rich` tree: the groups in `first` first, then the rest."""
    import rich
    import rich.syntax
    import rich.tree

    tree = rich.tree.Tree("CONFIG", style="dim", guide_style="dim")
    keys = [k for k in first if k in cfg] + [k for k in cfg if k not in first]
    for key in keys:
        value: Any = cfg[key]
        branch = tree.add(str(key), style="bold")
        text = OmegaConf.to_yaml(value, resolve=True) if isinstance(value, DictConfig) else str(value)
        branch.add(rich.syntax.Syntax(text, "yaml", theme="ansi_dark", background_color="default"))
    rich.print(tree)
