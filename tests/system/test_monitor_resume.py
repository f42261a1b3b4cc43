"""A monitored run killed mid-run (kill -9 of the CLI) and resumed ends with the same monitor.json as an
uninterrupted one (real MNIST, CPU). The run also uses the repair options whose state must
survive a resume: ReduceLROnPlateau (its best/wait counters) and input Gaussian noise (the RNG)."""

from __future__ import annotations

import json
import math
import signal
from pathlib import Path

import pandas as pd
import torch

from tests.conftest import compose_train, in_background, kill_after_checkpoint
from trainfix.train import train

EPOCHS = 5


def _overrides(data_dir: Path) -> list[str]:
    return [
        f"paths.data_dir={data_dir}",
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


def test_killed_monitored_run_resumes_to_the_same_checks(data_dir, tmp_path, cli):
    """The killed CLI process is the only subprocess (interpreter start-up is most of this test's cost): the
    uninterrupted run (while it trains) and the resume run in this process, with the same number of intra-op
    threads, so every number must be equal."""
    clean, killed = tmp_path / "clean", tmp_path / "killed"

    def two_checks(run_dir: Path) -> bool:
        return (run_dir / "monitor.json").exists() and len(
            json.loads((run_dir / "monitor.json").read_text())["checks"]
        ) >= 2

    proc = cli.start(
        cli.train(*_overrides(data_dir), f"hydra.run.dir={killed}"),
        env={"OMP_NUM_THREADS": str(torch.get_num_threads())},
    )
    with in_background(kill_after_checkpoint, proc, killed, until=two_checks):
        train(compose_train(_overrides(data_dir), clean))
    assert proc.returncode == -signal.SIGKILL
    partial = json.loads((killed / "monitor.json").read_text())
    assert json.loads((killed / "run.json").read_text())["status"] == "running" and 2 <= len(partial["checks"]) < EPOCHS

    _, objects = train(compose_train(_overrides(data_dir), killed))
    assert objects["action"].kind == "resume"
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
