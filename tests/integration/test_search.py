"""The debug configs on tiny real runs (LeNet-5, real MNIST subsets, CPU): fast_dev_run, overfitting one batch,
limited batches. (The configs composed: tests/unit/test_search_configs.py; the Optuna sweep through the CLI:
tests/system/test_search_sweep.py.)"""

from __future__ import annotations

import json

import pandas as pd

from trainfix.train import train

TINY = [
    "trainer.accelerator=cpu",
    "trainer.enable_progress_bar=false",
    "trainer.max_epochs=1",
    "data.train_subset=1000",
    "data.test_subset=200",
    "data.eval_batch_size=500",
]


def test_fast_dev_run_trains_one_batch(tiny_cfg, tmp_path):
    train(tiny_cfg("debug=fdr", run_dir=tmp_path / "run"))
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert metrics["global_step"].tolist() == [1] and metrics["samples_seen"].tolist() == [250]
    assert metrics["test_acc"].notna().all()
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "finished"


def test_overfit_one_batch_fits_it(tiny_cfg, tmp_path):
    train(
        tiny_cfg(
            "debug=overfit", "trainer.max_epochs=40", "optimizer=adam", "optimizer.lr=0.003", run_dir=tmp_path / "run"
        )
    )
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert metrics["global_step"].tolist() == list(range(1, 41))  # one step per epoch
    assert metrics["samples_seen"].iloc[-1] == 40 * 250
    # Baseline serves the same first batch every epoch, so the network memorizes it.
    # (train_acc is measured in train mode; chance is 0.1.)
    assert metrics["train_acc"].iloc[-5:].min() >= 0.98
    assert metrics["train_loss"].iloc[-1] < 0.05 * metrics["train_loss"].iloc[0]


def test_limit_batches_with_a_planning_strategy(tiny_cfg, tmp_path):
    train(
        tiny_cfg(
            "debug=limit",
            "strategy=deepeutaxy",
            "strategy.iter_count=1",
            "trainer.max_epochs=3",
            run_dir=tmp_path / "run",
        )
    )
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert metrics["global_step"].tolist() == [3, 6, 9]  # limit_train_batches=3, 3 epochs
    assert metrics["samples_seen"].tolist() == [750, 1500, 2250]
    assert metrics["de_refreshed"].tolist() == [1.0, 1.0, 0.0]  # DeepEutaxy re-sorted all 8 batches between epochs
    assert metrics["test_acc"].notna().all()
