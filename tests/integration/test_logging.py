"""Metrics through Lightning to TensorBoard and MLflow; best checkpoints; the final line of a run.

Tiny real runs in-process: LeNet-5 / CNN1 on 1,000-2,000 real MNIST images, CPU, 2-4 epochs. (W&B over a
kill and resume, and the console of a CLI run: tests/system/test_logging_cli.py.)
"""

import json
import logging

import pandas as pd
import pytest
import pytorch_lightning as pl
import torch

from trainfix.train import train


# ------------------------------------------------------------ in-process tiny runs
def test_tensorboard_gets_each_epoch_at_the_epoch_step(tiny_cfg, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, objects = train(tiny_cfg("logger=tensorboard", "data.train_subset=1000", run_dir=tmp_path / "run"))
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    for key in ("train_loss", "test_acc", "lr", "epoch_time_s"):
        scalars = events.Scalars(key)
        assert [s.step for s in scalars] == [0, 1], key
        assert [s.value for s in scalars] == pytest.approx(metrics[key].tolist(), rel=1e-6), key
    assert [s.value for s in events.Scalars("test_acc_best")] == pytest.approx(
        metrics["test_acc"].cummax().tolist(), rel=1e-6
    )
    # Train loss and accuracy are on the progress bar (the last epoch's).
    bar = objects["trainer"].progress_bar_metrics
    assert bar["train_loss"] == pytest.approx(metrics["train_loss"].iloc[-1], rel=1e-6)
    assert bar["train_acc"] == pytest.approx(metrics["train_acc"].iloc[-1], rel=1e-6)


def test_mlflow_file_store_gets_epoch_metrics_and_the_config(tiny_cfg, tmp_path):
    from mlflow.tracking import MlflowClient

    train(tiny_cfg("logger=mlflow", "data.train_subset=1000", run_dir=tmp_path / "run"))
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    client = MlflowClient(tracking_uri=f"file:{tmp_path / 'run' / 'mlruns'}")
    (experiment,) = [e for e in client.search_experiments() if e.name == "train"]
    (run,) = client.search_runs([experiment.experiment_id])
    history = client.get_metric_history(run.info.run_id, "test_acc")
    assert [m.step for m in history] == [0, 1]
    assert [m.value for m in history] == pytest.approx(metrics["test_acc"].tolist(), rel=1e-6)
    assert run.data.params["data.batch_size"] == "250" and run.data.params["data_loaded.num_train"] == "1000"
    assert run.data.tags["strategy"] == "baseline" and run.data.tags["seed"] == "0"
    # data.train_subset set on the command line: not the profile's run any more.
    assert (
        run.data.tags["profile"] == "custom" and run.data.tags["model"] == "lenet5" and run.data.tags["data"] == "mnist"
    )


def test_best_checkpoint_and_early_stopping_follow_the_monitored_metric(tiny_cfg, tmp_path):
    """callbacks=best: best.ckpt holds the best epoch's weights; early stopping ends the run.

    min_delta=1.0 makes any later epoch "no improvement", so with patience 1 the run stops after 2 of 4 epochs.
    """
    run_dir = tmp_path / "run"
    cfg = tiny_cfg(
        "callbacks=best",
        "data.val_fraction=0.2",
        "trainer.max_epochs=4",
        "callbacks.early_stopping.patience=1",
        "callbacks.early_stopping.min_delta=1.0",
        run_dir=run_dir,
    )
    assert cfg.callbacks.model_checkpoint.monitor == "val_acc"
    _, objects = train(cfg)
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert metrics["epoch"].tolist() == [0, 1]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"
    checkpoint = torch.load(run_dir / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=False)
    best_row = int(metrics["val_acc"].idxmax())
    assert checkpoint["epoch"] == metrics["epoch"][best_row]
    (state,) = [v for k, v in checkpoint["callbacks"].items() if k.startswith("ModelCheckpoint")]
    assert float(state["best_model_score"]) == pytest.approx(metrics["val_acc"].max(), rel=1e-6)
    assert objects["trainer"].callback_metrics["val_acc_best"] == pytest.approx(metrics["val_acc"].max(), rel=1e-6)


def test_a_diverged_run_ends_with_its_status_in_the_final_line(tiny_cfg, tmp_path, caplog):
    cfg = tiny_cfg(
        "optimizer=sgd",
        "optimizer.lr=1.0e12",
        "trainer.max_epochs=3",
        "data.train_subset=500",
        run_dir=tmp_path / "run",
    )
    with caplog.at_level(logging.INFO, logger="trainfix.training.callbacks.progress"):
        train(cfg)
    lines = [r.getMessage() for r in caplog.records if r.name == "trainfix.training.callbacks.progress"]
    assert len(lines) == 2 and lines[0].startswith("epoch 1/3 train_loss ")
    assert lines[1].startswith("diverged: test_acc ") and lines[1].endswith(f"-> {(tmp_path / 'run').resolve()}")


class FailAtSecondEpoch(pl.Callback):
    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.current_epoch == 1:
            raise RuntimeError("injected failure")


def test_a_failed_run_ends_with_its_status_in_the_final_line(tiny_cfg, tmp_path, caplog):
    run_dir = tmp_path / "run"
    cfg = tiny_cfg(
        "+callbacks.fail._target_=tests.integration.test_logging.FailAtSecondEpoch",
        "data.train_subset=500",
        run_dir=run_dir,
    )
    with (
        caplog.at_level(logging.INFO, logger="trainfix.training.callbacks.progress"),
        pytest.raises(RuntimeError, match="injected failure"),
    ):
        train(cfg)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "failed"
    metrics = pd.read_csv(run_dir / "metrics.csv")
    lines = [r.getMessage() for r in caplog.records if r.name == "trainfix.training.callbacks.progress"]
    best = int(metrics["test_acc"].idxmax())
    assert lines[-1] == (
        f"failed: test_acc {metrics.test_acc.iloc[-1]:.4f} (best {metrics.test_acc.max():.4f} at epoch "
        f"{best + 1}) -> {run_dir.resolve()}"
    )
