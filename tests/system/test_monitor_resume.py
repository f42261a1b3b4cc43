"""A monitored run killed mid-run and re-invoked ends with the same monitor.json as an uninterrupted one
(real MNIST, CPU, the CLI as a user runs it). The run also uses the repair options whose state must
survive a resume: ReduceLROnPlateau (its best/wait counters) and input Gaussian noise (the RNG)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pandas as pd
import pytest

EPOCHS = 5


def _cli(run_dir: Path, data_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "trainfix.train",
        f"paths.data_dir={data_dir}",
        f"hydra.run.dir={run_dir}",
        "trainer.accelerator=cpu",
        "trainer.enable_progress_bar=false",
        f"trainer.max_epochs={EPOCHS}",
        "seed=3",
        "model=mlp",
        "++model.params.hidden_layers=8",
        "model.input_noise_std=0.1",
        "data.train_subset=1500",
        "data.test_subset=300",
        "data.batch_size=32",
        "optimizer=sgd",
        "optimizer.lr=0.3",
        "scheduler=reduce_on_plateau",
        "scheduler.scheduler.patience=0",
        "scheduler.scheduler.min_lr=0.0",
        "monitor=autotrainer",
        "monitor.schedule.every=1",
        "monitor.record_every_epoch=true",
    ]


def _without_timing(monitor: dict) -> dict:
    for check in monitor["checks"]:
        check.pop("seconds")
    return monitor


@pytest.mark.slow  # two 5-epoch CLI runs and a resume
def test_killed_monitored_run_resumes_to_the_same_checks(data_dir, tmp_path, cli, kill_after_checkpoint):
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    cli.run(_cli(clean, data_dir), check=True)

    def two_checks(run_dir: Path) -> bool:
        return (run_dir / "monitor.json").exists() and len(
            json.loads((run_dir / "monitor.json").read_text())["checks"]
        ) >= 2

    kill_after_checkpoint(cli.start(_cli(killed, data_dir)), killed, until=two_checks)
    partial = json.loads((killed / "monitor.json").read_text())
    assert json.loads((killed / "run.json").read_text())["status"] == "running" and 2 <= len(partial["checks"]) < EPOCHS

    resumed = cli.run(_cli(killed, data_dir))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stderr + resumed.stdout
    a = _without_timing(json.loads((clean / "monitor.json").read_text()))
    b = _without_timing(json.loads((killed / "monitor.json").read_text()))
    assert [c["epoch"] for c in b["checks"]] == list(range(1, EPOCHS + 1))
    assert a == b and a["detections"]  # every check, its problems and evidence, and the detections

    # ReduceLROnPlateau (Keras patience 1 = torch 0) on the recorded test loss: the lr of epoch e+1 is
    # lowered x0.2 exactly when epoch e's loss was no better than the best so far by 1e-4.
    metrics = pd.read_csv(killed / "metrics.csv")
    lr, best = 0.3, math.inf
    for epoch, row in metrics.iterrows():
        assert row["lr"] == lr, (epoch, row["lr"], lr)
        if row["test_loss"] < best - 1e-4:
            best = row["test_loss"]
        else:
            lr *= 0.2
    pd.testing.assert_frame_equal(
        pd.read_csv(clean / "metrics.csv").filter(regex="^(train|test)_(loss|acc)$|^lr$"),
        metrics.filter(regex="^(train|test)_(loss|acc)$|^lr$"),
        check_exact=True,
    )
