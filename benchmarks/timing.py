"""One benchmark run through trainfix's real training path (`trainfix.train.train`), in a temporary
run folder, for the benchmark scripts beside this file (`from timing import epoch_metrics`: a script
run as `python benchmarks/<name>.py` has this folder on its import path).

Per-epoch seconds come from the run's own records (metrics.csv: `epoch_time_s`, `eval_time_s`, ...),
so every benchmark times exactly what a user's run does.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd


@contextmanager
def trained_run(overrides: list[str], *, evaluate: bool = False) -> Iterator[Path]:
    """Compose `conf/train.yaml` with `overrides`, train it in a temporary folder and yield that
    folder (removed on exit). Evaluation is off unless `evaluate`: the timed epochs are training only."""
    from omegaconf import open_dict

    from trainfix.train import train
    from trainfix.training.compose import compose_config

    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_config(overrides, Path(tmp))
        if not evaluate:
            with open_dict(cfg):
                cfg.trainer.limit_val_batches = 0
        train(cfg)
        yield Path(tmp)


def epoch_metrics(overrides: list[str], *, evaluate: bool = False) -> pd.DataFrame:
    """The run's metrics.csv (one row per epoch) after `trained_run(overrides, evaluate=evaluate)`."""
    with trained_run(overrides, evaluate=evaluate) as run_dir:
        return pd.read_csv(run_dir / "metrics.csv")
