"""Metrics through Lightning to W&B, TensorBoard and MLflow; best checkpoints; readable console output.

Tiny real runs: LeNet-5 / CNN1 on 1,000-2,000 real MNIST images, CPU, 2-4 epochs.
"""

import json
import logging
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import pytorch_lightning as pl
import torch

from trainfix.train import train

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ W&B offline files
def read_wandb_records(path: Path) -> list:
    """The records of an offline run's `.wandb` file, as `wandb_internal_pb2.Record` messages.

    wandb 0.31 ships no Python reader for these files (`wandb.sdk.internal.datastore` is gone), so
    this reads the format it writes: a 7-byte header (":W&B", magic 0xBEE1, version 0), then a
    LevelDB-style log of 32 KiB blocks whose chunks have a 7-byte header (CRC32, length, type
    1=full, 2=first, 3=middle, 4=last).
    """
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B" and struct.unpack("<HB", data[4:7]) == (0xBEE1, 0), f"{path} is not a W&B log"
    block, pos, pending, payloads = 32768, 7, b"", []
    while pos + 7 <= len(data):
        space = block - pos % block
        if space < 7:  # the writer pads a block's tail that cannot hold a chunk header
            pos += space
            continue
        length, kind = struct.unpack("<HB", data[pos + 4 : pos + 7])
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 1:
            payloads.append(chunk)
        elif kind == 2:
            pending = chunk
        elif kind == 3:
            pending += chunk
        elif kind == 4:
            payloads.append(pending + chunk)
        else:
            break  # zero padding at the end of a file still being written
    records = []
    for payload in payloads:
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        records.append(record)
    return records


def offline_run(folder: Path) -> dict:
    """Run id, group, job type, tags, config, history rows and summary of one offline-run folder."""
    (log_file,) = folder.glob("*.wandb")
    run: dict = {"config": {}, "history": [], "summary": {}}

    def items(updates) -> dict:
        return {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in updates}

    for record in read_wandb_records(log_file):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.update(id=record.run.run_id, group=record.run.run_group, job_type=record.run.job_type, tags=list(record.run.tags))
        elif kind == "config":
            run["config"].update(items(record.config.update))
        elif kind == "history":
            run["history"].append(items(record.history.item))
        elif kind == "summary":
            run["summary"].update(items(record.summary.update))
    return run


def _cli(run_dir: Path, data_dir: Path, *overrides: str) -> list[str]:
    return [
        sys.executable, "-m", "trainfix.train",
        f"paths.data_dir={data_dir}", f"hydra.run.dir={run_dir}", "trainer.accelerator=cpu",
        "model=cnn1", "data.train_subset=1000", "data.test_subset=200", "data.batch_size=100", "seed=5",
        *overrides,
    ]


def test_wandb_offline_run_has_config_history_summary_and_keeps_its_id_over_a_resume(data_dir, tmp_path):
    """SIGKILL a W&B-logged CLI run after its first checkpoint; the re-invocation continues the same W&B run."""
    env = {**os.environ, "WANDB_MODE": "offline"}
    run_dir = tmp_path / "run"
    cli = _cli(run_dir, data_dir, "logger=wandb", "trainer.max_epochs=4", "strategy=shuffle", "tags=[smoke]")
    proc = subprocess.Popen(cli, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not (run_dir / "checkpoints" / "last.ckpt").exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first_id = json.loads((run_dir / "run.json").read_text())["wandb_id"]

    resumed = subprocess.run(cli, env=env, cwd=REPO, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "finished" and [a["outcome"] for a in record["attempts"]] == ["killed", "finished"]
    assert record["wandb_id"] == first_id

    folders = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(folders) == 2, "one offline folder per attempt"
    # W&B names each offline folder offline-run-<time>-<run id>; the killed attempt may not have flushed
    # its run record yet, so the resumed one is read back.
    assert [folder.name.rsplit("-", 1)[1] for folder in folders] == [first_id, first_id]
    runs = [offline_run(folder) for folder in folders]
    assert runs[1]["id"] == first_id and runs[0].get("id", first_id) == first_id

    metrics = pd.read_csv(run_dir / "metrics.csv")
    last = runs[1]
    assert last["group"] == "train/cnn1" and last["job_type"] == "shuffle"
    assert set(last["tags"]) == {"smoke", "strategy=shuffle", "variant=paper", "profile=full", "seed=5"}
    assert last["config"]["data.batch_size"] == 100 and last["config"]["optimizer.lr"] == 0.1
    assert last["config"]["data_loaded.num_train"] == 1000 and last["config"]["model.name"] == "cnn1"

    # One history row per epoch, the epoch as W&B's step, the numbers of metrics.csv (float32).
    resumed_epochs = [row["epoch"] for row in last["history"]]
    first_epochs = [row["epoch"] for row in runs[0]["history"]]  # what the killed attempt flushed, maybe nothing
    assert resumed_epochs == list(range(resumed_epochs[0], 4)) and resumed_epochs[0] >= 1
    assert first_epochs == list(range(len(first_epochs)))
    for row in last["history"]:
        expected = metrics.loc[metrics["epoch"] == row["epoch"]].iloc[0]
        assert row["trainer/global_step"] == row["epoch"]
        for key in ("train_loss", "train_acc", "test_loss", "test_acc", "grad_norm_last", "samples_seen"):
            assert row[key] == pytest.approx(expected[key], rel=1e-6), key
        # Best-so-far over every recorded epoch, including those of the killed attempt.
        seen = metrics[metrics["epoch"] <= row["epoch"]]
        assert row["test_acc_best"] == pytest.approx(seen["test_acc"].max(), rel=1e-6)
        assert row["test_loss_best"] == pytest.approx(seen["test_loss"].min(), rel=1e-6)
    summary = last["summary"]
    assert summary["status"] == "finished" and summary["epochs_completed"] == 4
    assert summary["test_acc"] == pytest.approx(metrics["test_acc"].iloc[-1], rel=1e-6)
    assert summary["test_acc_best"] == pytest.approx(metrics["test_acc"].max(), rel=1e-6)
    assert summary["test_acc_best_epoch"] == int(metrics["epoch"][metrics["test_acc"].idxmax()])


def test_console_has_one_line_per_epoch_and_a_final_line_without_a_tty(data_dir, tmp_path):
    """stderr piped (not a terminal): no progress-bar frames, a log line per epoch and a final line,
    on the console and in Hydra's train.log; the configuration tree first when asked."""
    run_dir = tmp_path / "run"
    done = subprocess.run(
        _cli(run_dir, data_dir, "trainer.max_epochs=2", "extras.print_config=true"),
        env={**os.environ, "WANDB_MODE": "offline"}, cwd=REPO, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    console = done.stdout + done.stderr
    tree = done.stdout.split("Instantiating")[0]
    assert tree.startswith("CONFIG")
    assert "├── data" in tree and "batch_size: 100" in tree and "name: cnn1" in tree
    assert "\r" not in console and "it/s]" not in console, "no progress bar when stderr is not a terminal"
    metrics = pd.read_csv(run_dir / "metrics.csv")
    train_log = (run_dir / "train.log").read_text()
    for text in (console, train_log):
        lines = [line.split(" - ", 1)[1] for line in text.splitlines() if "][trainfix.callbacks.progress][" in line]
        assert len(lines) == 3, lines
        for epoch, line in enumerate(lines[:2]):
            row = metrics.iloc[epoch]
            best = metrics["test_acc"][: epoch + 1].max()
            assert line.startswith(
                f"epoch {epoch + 1}/2 train_loss {row.train_loss:.4f} test_acc {row.test_acc:.4f} (best {best:.4f}) "
            ), line
            assert line.endswith(" s")
        best_epoch = int(metrics["test_acc"].idxmax())
        assert lines[2] == (
            f"finished: test_acc {metrics.test_acc.iloc[-1]:.4f} (best {metrics.test_acc.max():.4f} at epoch {best_epoch + 1}) "
            f"-> {run_dir.resolve()}"
        )


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
    assert [s.value for s in events.Scalars("test_acc_best")] == pytest.approx(metrics["test_acc"].cummax().tolist(), rel=1e-6)
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


def test_best_checkpoint_and_early_stopping_follow_the_monitored_metric(tiny_cfg, tmp_path):
    """callbacks=best: best.ckpt holds the best epoch's weights; early stopping ends the run.

    min_delta=1.0 makes any later epoch "no improvement", so with patience 1 the run stops after 2 of 4 epochs.
    """
    run_dir = tmp_path / "run"
    cfg = tiny_cfg(
        "callbacks=best", "data.val_fraction=0.2", "trainer.max_epochs=4",
        "callbacks.early_stopping.patience=1", "callbacks.early_stopping.min_delta=1.0", run_dir=run_dir,
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
    cfg = tiny_cfg("optimizer=sgd", "optimizer.lr=1.0e12", "trainer.max_epochs=3", "data.train_subset=500", run_dir=tmp_path / "run")
    with caplog.at_level(logging.INFO, logger="trainfix.callbacks.progress"):
        train(cfg)
    lines = [r.getMessage() for r in caplog.records if r.name == "trainfix.callbacks.progress"]
    assert len(lines) == 2 and lines[0].startswith("epoch 1/3 train_loss ")
    assert lines[1].startswith("diverged: test_acc ") and lines[1].endswith(f"-> {(tmp_path / 'run').resolve()}")


class FailAtSecondEpoch(pl.Callback):
    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.current_epoch == 1:
            raise RuntimeError("injected failure")


def test_a_failed_run_ends_with_its_status_in_the_final_line(tiny_cfg, tmp_path, caplog):
    run_dir = tmp_path / "run"
    cfg = tiny_cfg("+callbacks.fail._target_=tests.integration.test_logging.FailAtSecondEpoch", "data.train_subset=500", run_dir=run_dir)
    with caplog.at_level(logging.INFO, logger="trainfix.callbacks.progress"), pytest.raises(RuntimeError, match="injected failure"):
        train(cfg)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "failed"
    metrics = pd.read_csv(run_dir / "metrics.csv")
    lines = [r.getMessage() for r in caplog.records if r.name == "trainfix.callbacks.progress"]
    best = int(metrics["test_acc"].idxmax())
    assert lines[-1] == (
        f"failed: test_acc {metrics.test_acc.iloc[-1]:.4f} (best {metrics.test_acc.max():.4f} at epoch {best + 1}) -> {run_dir.resolve()}"
    )
