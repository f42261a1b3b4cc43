"""Optuna search and the debug configs, on tiny real runs (LeNet-5, real MNIST subsets, CPU)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig

from trainfix.config_rules import ConfigError, check_config
from trainfix.train import CONF_DIR, compose_config, train

REPO = Path(__file__).resolve().parents[2]
TINY = ["trainer.accelerator=cpu", "trainer.enable_progress_bar=false", "trainer.max_epochs=1", "data.train_subset=1000", "data.test_subset=200", "data.eval_batch_size=500"]


def test_optuna_sweep_gives_each_trial_its_folder_and_maximizes_val_acc(tmp_path, data_dir):
    cmd = [
        sys.executable, "-m", "trainfix.train", "-m", "hparams_search=lenet5_mnist_optuna", "hydra.sweeper.n_trials=3",
        f"paths.data_dir={data_dir}", f"paths.multirun_dir={tmp_path}", *TINY,
    ]
    result = subprocess.run(cmd, cwd=REPO, env={**os.environ, "WANDB_MODE": "offline"}, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]

    sweep_dir = tmp_path / "hparams_lenet5_mnist"
    runs = {p.parent: json.loads(p.read_text()) for p in sweep_dir.glob("*/run.json")}
    assert len(runs) == 3, sorted(p.name for p in runs)
    assert all(r["status"] == "finished" and r["epochs_completed"] == 1 for r in runs.values())
    swept = {(r["config"]["optimizer"]["lr"], r["config"]["data"]["batch_size"]) for r in runs.values()}
    assert len(swept) == 3  # three trials, three settings, three folders
    assert all(r["data"]["num_val"] == 100 and r["data"]["num_train"] == 900 for r in runs.values())  # 10% of 1,000 held out

    # The objective is the last epoch's val_acc (never the test set): Optuna's best is the best folder's.
    val_acc = {run_dir: pd.read_csv(run_dir / "metrics.csv")["val_acc"].iloc[-1] for run_dir in runs}
    best_dir = max(val_acc, key=val_acc.get)
    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert results["best_value"] == pytest.approx(val_acc[best_dir])
    assert results["best_params"] == {
        "optimizer.lr": runs[best_dir]["config"]["optimizer"]["lr"],
        "data.batch_size": runs[best_dir]["config"]["data"]["batch_size"],
    }


def test_debug_configs_write_fresh_folders_under_debug_without_wandb(tmp_path):
    GlobalHydra.instance().clear()
    for name in ("fdr", "overfit", "limit"):
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
            cfg = compose("train.yaml", overrides=[f"debug={name}", "logger=wandb", f"paths.runs_dir={tmp_path}"], return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
        assert cfg.task_name == "debug" and cfg.logger is None, name
        run_dir = Path(cfg.hydra.run.dir)
        assert run_dir.parent.parent == tmp_path / "debug"
        assert re.fullmatch(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d", run_dir.parent.name)
        GlobalHydra.instance().clear()


def test_fast_dev_run_trains_one_batch(tiny_cfg, tmp_path):
    train(tiny_cfg("debug=fdr", run_dir=tmp_path / "run"))
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert metrics["global_step"].tolist() == [1] and metrics["samples_seen"].tolist() == [250]
    assert metrics["test_acc"].notna().all()
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "finished"


def test_overfit_one_batch_fits_it(tiny_cfg, tmp_path):
    train(tiny_cfg("debug=overfit", "trainer.max_epochs=40", "optimizer=adam", "optimizer.lr=0.003", run_dir=tmp_path / "run"))
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert metrics["global_step"].tolist() == list(range(1, 41))  # one step per epoch
    assert metrics["samples_seen"].iloc[-1] == 40 * 250
    # Baseline serves the same first batch every epoch, so the network memorizes it.
    # (train_acc is measured in train mode; chance is 0.1.)
    assert metrics["train_acc"].iloc[-5:].min() >= 0.98
    assert metrics["train_loss"].iloc[-1] < 0.05 * metrics["train_loss"].iloc[0]


def test_limit_batches_with_a_planning_strategy(tiny_cfg, tmp_path):
    train(tiny_cfg("debug=limit", "strategy=deepeutaxy", "strategy.iter_count=1", "trainer.max_epochs=3", run_dir=tmp_path / "run"))
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert metrics["global_step"].tolist() == [3, 6, 9]  # limit_train_batches=3, 3 epochs
    assert metrics["samples_seen"].tolist() == [750, 1500, 2250]
    assert metrics["de_refreshed"].tolist() == [1.0, 1.0, 0.0]  # DeepEutaxy re-sorted all 8 batches between epochs
    assert metrics["test_acc"].notna().all()


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["optimized_metric=val_acc"], r"optimized_metric='val_acc': the run has no validation set \(data.val_fraction=0.0\)"),
        (["optimized_metric=train_eval_loss"], r"optimized_metric='train_eval_loss': the run does not evaluate the training set"),
    ],
)
def test_optimized_metric_must_be_recorded(tmp_path, overrides, expected):
    with pytest.raises(ConfigError, match=expected):
        check_config(compose_config(overrides, tmp_path))


def test_optuna_search_config_is_valid(tmp_path):
    cfg = compose_config(["hparams_search=lenet5_mnist_optuna"], tmp_path)
    check_config(cfg)
    assert cfg.optimized_metric == "val_acc" and cfg.data.val_fraction == 0.1
