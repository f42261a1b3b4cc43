"""Tiny real runs (LeNet-5 on 2,000 real MNIST images, CPU): records, determinism, skip. (Kill-and-resume
through the CLI is tests/system/test_resume.py.)"""

import json
import math

import pandas as pd
import pytest
import pytorch_lightning as pl

from trainfix.core.records import METRIC_COLUMNS, TIMING_COLUMNS
from trainfix.train import train


def test_run_writes_metrics_and_run_json(tiny_cfg, tmp_path):
    cfg = tiny_cfg("strategy=shuffle", "optimizer=adam", "optimizer.lr=0.001", run_dir=tmp_path / "run")
    last, objects = train(cfg)
    run_dir = tmp_path / "run"
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert list(metrics.columns[: len(METRIC_COLUMNS)]) == METRIC_COLUMNS
    assert metrics["epoch"].tolist() == [0, 1]
    assert metrics["global_step"].tolist() == [8, 16]  # 2,000 samples / batch 250
    assert metrics["samples_seen"].tolist() == [2000, 4000]
    assert metrics["lr"].tolist() == [0.001, 0.001]
    assert (metrics["grad_norm_mean"] > 0).all() and (metrics["grad_norm_last"] > 0).all()
    assert metrics["test_acc"].iloc[-1] > 0.5  # LeNet-5 learns MNIST fast; chance is 0.1
    assert metrics["train_loss"].iloc[1] < metrics["train_loss"].iloc[0]
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "finished"
    assert run["epochs_completed"] == 2
    assert run["config"]["model"]["name"] == "lenet5"
    assert run["data"]["num_train"] == 2000 and run["data"]["num_test"] == 500
    assert run["versions"]["torch"].startswith("2.14.1")
    assert (run_dir / "checkpoints" / "last.ckpt").exists()
    assert last["test_acc"] == metrics["test_acc"].iloc[-1]

    # A second invocation skips the finished run and changes nothing.
    before = (run_dir / "metrics.csv").read_bytes()
    _, again = train(cfg)
    assert again["action"].kind == "skip"
    assert (run_dir / "metrics.csv").read_bytes() == before


class GradProbe(pl.Callback):
    """Computes each step's gradient norm directly, independently of the classifier's bookkeeping."""

    def __init__(self) -> None:
        self.norms: list[float] = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        total = sum(float(p.grad.double().pow(2).sum()) for p in pl_module.net.parameters() if p.grad is not None)
        self.norms.append(math.sqrt(total))


def test_grad_norms_match_direct_computation(tiny_cfg, tmp_path):
    """metrics.csv's last-step and epoch-mean gradient L2 norms equal a direct computation."""
    cfg = tiny_cfg("+callbacks.probe._target_=tests.integration.test_train_run.GradProbe", run_dir=tmp_path / "run")
    _, objects = train(cfg)
    probe = next(c for c in objects["trainer"].callbacks if isinstance(c, GradProbe))
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    steps = 8  # 2,000 samples / 250 per batch
    assert len(probe.norms) == 2 * steps
    for epoch in range(2):
        norms = probe.norms[epoch * steps : (epoch + 1) * steps]
        assert metrics["grad_norm_last"][epoch] == pytest.approx(norms[-1], rel=1e-5)
        assert metrics["grad_norm_mean"][epoch] == pytest.approx(sum(norms) / steps, rel=1e-5)


def test_same_seed_gives_identical_metrics(tiny_cfg, tmp_path):
    """CNN1 (dropout: the global random stream) twice with seed 3, 2 epochs of 2 batches: every number equal;
    seed 4 changes the first epoch's loss."""
    small = ("model=cnn1", "data.train_subset=500", "data.test_subset=200")
    frames = []
    for name in ("a", "b"):
        train(tiny_cfg(*small, "seed=3", run_dir=tmp_path / name))
        frames.append(pd.read_csv(tmp_path / name / "metrics.csv").drop(columns=list(TIMING_COLUMNS), errors="ignore"))
    pd.testing.assert_frame_equal(frames[0], frames[1], check_exact=True)
    train(tiny_cfg(*small, "seed=4", "trainer.max_epochs=1", run_dir=tmp_path / "c"))
    other = pd.read_csv(tmp_path / "c" / "metrics.csv")
    assert other["train_loss"].iloc[0] != frames[0]["train_loss"].iloc[0]


def test_wandb_logger_writes_an_offline_run(tiny_cfg, tmp_path):
    cfg = tiny_cfg("logger=wandb", "trainer.max_epochs=1", "tags=[smoke]", run_dir=tmp_path / "run")
    train(cfg)
    offline = list((tmp_path / "run" / "wandb").glob("offline-run-*"))
    assert len(offline) == 1, "wandb must run offline by default"
    assert list(offline[0].glob("*.wandb")), "the offline run holds its logged history"


def test_non_finite_loss_stops_the_run_as_diverged(tiny_cfg, tmp_path):
    cfg = tiny_cfg("optimizer=sgd", "optimizer.lr=1.0e12", "trainer.max_epochs=3", run_dir=tmp_path / "run")
    train(cfg)
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert len(metrics) == 1 and not math.isfinite(metrics["train_loss"][0])
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "diverged"
    _, again = train(cfg)
    assert again["action"].kind == "skip"
