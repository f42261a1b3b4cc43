"""An Optuna search through the CLI (hparams_search=lenet5_mnist_optuna): one folder per trial, the objective is
val_acc (LeNet-5 on 1,000 real MNIST images, CPU)."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest
import yaml

from tests.integration.test_search import TINY


@pytest.mark.slow  # 3 trials
def test_optuna_sweep_gives_each_trial_its_folder_and_maximizes_val_acc(tmp_path, data_dir, cli):
    cmd = [
        sys.executable,
        "-m",
        "trainfix.train",
        "-m",
        "hparams_search=lenet5_mnist_optuna",
        "hydra.sweeper.n_trials=3",
        f"paths.data_dir={data_dir}",
        f"paths.multirun_dir={tmp_path}",
        *TINY,
    ]
    result = cli.run(cmd)
    assert result.returncode == 0, result.stderr[-3000:]

    sweep_dir = tmp_path / "hparams_lenet5_mnist"
    runs = {p.parent: json.loads(p.read_text()) for p in sweep_dir.glob("*/run.json")}
    assert len(runs) == 3, sorted(p.name for p in runs)
    assert all(r["status"] == "finished" and r["epochs_completed"] == 1 for r in runs.values())
    swept = {(r["config"]["optimizer"]["lr"], r["config"]["data"]["batch_size"]) for r in runs.values()}
    assert len(swept) == 3  # three trials, three settings, three folders
    assert all(
        r["data"]["num_val"] == 100 and r["data"]["num_train"] == 900 for r in runs.values()
    )  # 10% of 1,000 held out

    # The objective is the last epoch's val_acc (never the test set): Optuna's best is the best folder's.
    val_acc = {run_dir: pd.read_csv(run_dir / "metrics.csv")["val_acc"].iloc[-1] for run_dir in runs}
    best_dir = max(val_acc, key=val_acc.get)
    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert results["best_value"] == pytest.approx(val_acc[best_dir])
    assert results["best_params"] == {
        "optimizer.lr": runs[best_dir]["config"]["optimizer"]["lr"],
        "data.batch_size": runs[best_dir]["config"]["data"]["batch_size"],
    }
