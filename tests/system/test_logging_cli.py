"""A W&B-logged CLI run killed and resumed keeps its W&B run (config, history, summary), and a CLI run's
console without a terminal: one line per epoch and a final line (real MNIST, CPU, the CLI as a user runs it).
In-process logging (TensorBoard, MLflow, best checkpoints): tests/integration/test_logging.py."""

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.integration.test_logging_wandb import offline_run


def _cli(run_dir: Path, data_dir: Path, *overrides: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "trainfix.train",
        f"paths.data_dir={data_dir}",
        f"hydra.run.dir={run_dir}",
        "trainer.accelerator=cpu",
        "model=cnn1",
        "data.train_subset=1000",
        "data.test_subset=200",
        "data.batch_size=100",
        "seed=5",
        *overrides,
    ]


def test_wandb_offline_run_has_config_history_summary_and_keeps_its_id_over_a_resume(
    data_dir, tmp_path, cli, kill_after_checkpoint
):
    """SIGKILL a W&B-logged CLI run after its first checkpoint; the re-invocation continues the same W&B run."""
    run_dir = tmp_path / "run"
    command = _cli(run_dir, data_dir, "logger=wandb", "trainer.max_epochs=4", "strategy=shuffle", "tags=[smoke]")
    kill_after_checkpoint(cli.start(command), run_dir)
    first_id = json.loads((run_dir / "run.json").read_text())["wandb_id"]

    resumed = cli.run(command)
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
    assert last["name"] == "run"  # the run folder's name
    tags = {"smoke", "strategy=shuffle", "variant=paper", "profile=custom", "seed=5", "model=cnn1", "data=mnist"}
    assert set(last["tags"]) == tags  # profile=custom: the command line set data.train_subset and the epochs
    assert last["config"]["data.batch_size"] == 100 and last["config"]["optimizer.lr"] == 0.1
    assert last["config"]["data_loaded.num_train"] == 1000 and last["config"]["model.name"] == "cnn1"

    # One history row per epoch, the epoch as W&B's x-axis, the numbers of metrics.csv (float32).
    assert last["metrics"]["*"]["step_metric"] == "epoch"
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


def test_console_has_one_line_per_epoch_and_a_final_line_without_a_tty(data_dir, tmp_path, cli):
    """stderr piped (not a terminal): no progress-bar frames, a log line per epoch and a final line,
    on the console and in Hydra's train.log; the configuration tree first when asked."""
    run_dir = tmp_path / "run"
    done = cli.run(_cli(run_dir, data_dir, "trainer.max_epochs=2", "extras.print_config=true"))
    assert done.returncode == 0, done.stderr[-3000:]
    console = done.stdout + done.stderr
    tree = done.stdout.split("Instantiating")[0]
    assert tree.startswith("CONFIG")
    assert "├── data" in tree and "batch_size: 100" in tree and "name: cnn1" in tree
    assert "\r" not in console and "it/s]" not in console, "no progress bar when stderr is not a terminal"
    metrics = pd.read_csv(run_dir / "metrics.csv")
    train_log = (run_dir / "train.log").read_text()
    for text in (console, train_log):
        lines = [
            line.split(" - ", 1)[1] for line in text.splitlines() if "][trainfix.training.callbacks.progress][" in line
        ]
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
            f"finished: test_acc {metrics.test_acc.iloc[-1]:.4f} (best {metrics.test_acc.max():.4f} at epoch "
            f"{best_epoch + 1}) -> {run_dir.resolve()}"
        )
