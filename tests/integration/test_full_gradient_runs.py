"""grad_norm_full in tiny real runs (LeNet-5 and LEAP's LeNet on real MNIST, in-process): recorded every epoch, the
convergence reading `full`, the training-set evaluation taken from the gradient pass without moving the
random stream. (Against a direct PyTorch computation: tests/unit/test_full_gradient.py.)"""

import json
import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from tests.unit.test_full_gradient import direct_gradient


def test_run_records_grad_norm_full_and_reading_full(tiny_cfg, tmp_path):
    """In a real run: the recorded grad_norm_full equals the direct gradient at the final weights."""
    from trainfix.train import train

    cfg = tiny_cfg(
        "trainer.max_epochs=1",
        "convergence.full_gradient=true",
        "convergence.reading=full",
        "convergence.full_gradient_chunk=300",
        run_dir=tmp_path / "run",
    )
    _, objects = train(cfg)
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    recorded = float(metrics["grad_norm_full"].iloc[0])
    dm, module = objects["datamodule"], objects["module"]
    x, y = dm.gather("train", torch.arange(len(dm.splits["train"].labels)))
    expected = direct_gradient(module.net, x, y)
    norm = float(torch.linalg.vector_norm(torch.cat([g.flatten() for g in expected])))
    assert recorded == pytest.approx(norm, rel=1e-5)
    # the full-set gradient is not the last step's (different batch; here no L2 term, but other samples)
    assert not math.isclose(recorded, float(metrics["grad_norm_last"].iloc[0]), rel_tol=1e-3)
    assert metrics["full_gradient_time_s"].iloc[0] > 0
    record = json.loads((tmp_path / "run" / "convergence.json").read_text())
    assert record["tables_use"] == "full" and set(record["first_epoch"]) == {"last", "mean", "full"}


def test_train_eval_comes_from_the_gradient_pass(tiny_cfg, tmp_path, monkeypatch):
    """With data.eval_train=true the gradient pass also yields train_eval_*: equal to a direct eval-mode
    pass at the final weights, and no separate train_eval loader runs during fit."""
    from trainfix.data.datamodule import ImageDataModule
    from trainfix.train import train

    built = []
    original = ImageDataModule.val_dataloader

    def counting(self):
        loaders = original(self)
        built.append(len(loaders))
        return loaders

    monkeypatch.setattr(ImageDataModule, "val_dataloader", counting)
    cfg = tiny_cfg(
        "trainer.max_epochs=2",
        "convergence.full_gradient=true",
        "data.eval_train=true",
        "convergence.full_gradient_chunk=300",
        run_dir=tmp_path / "run",
    )
    _, objects = train(cfg)
    assert built and set(built) == {1}  # the test set only: train_eval is measured by the gradient pass
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    dm, module = objects["datamodule"], objects["module"]
    x, y = dm.gather("train", torch.arange(len(dm.splits["train"].labels)))
    module.net.eval()
    with torch.no_grad():
        logits = module.net(x)
    assert metrics["train_eval_acc"].iloc[-1] == pytest.approx(float((logits.argmax(1) == y).float().mean()), abs=1e-7)
    assert metrics["train_eval_loss"].iloc[-1] == pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-5)
    expected = direct_gradient(module.net, x, y)
    norm = float(torch.linalg.vector_norm(torch.cat([g.flatten() for g in expected])))
    assert metrics["grad_norm_full"].iloc[-1] == pytest.approx(norm, rel=1e-5)
    assert metrics["train_eval_acc"].notna().all() and metrics["test_acc"].notna().all()
    assert dm.train_eval_in_gradient_pass is False  # reset after fit: evaluation outside training has its loader
    assert len(dm.val_dataloader()) == 2


def test_an_epoch_without_validation_still_gets_its_gradient(tiny_cfg, tmp_path):
    from trainfix.train import train

    train(
        tiny_cfg(
            "trainer.max_epochs=2",
            "trainer.check_val_every_n_epoch=2",
            "convergence.full_gradient=true",
            "data.eval_train=true",
            run_dir=tmp_path / "run",
        )
    )
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert metrics["grad_norm_full"].notna().all() and (metrics["full_gradient_time_s"] > 0).all()
    assert metrics["train_eval_acc"].isna().tolist() == [True, False]  # measured where the epoch validated
    assert metrics["test_acc"].isna().tolist() == [True, False]


@pytest.mark.slow  # two runs of a dropout model
def test_taking_train_eval_over_keeps_a_dropout_models_random_stream(tiny_cfg, tmp_path, monkeypatch):
    """LEAP's LeNet has dropout: the pass that replaces the train_eval loader must leave the global random
    stream (and so every weight and number) as the separate loader left it."""
    from trainfix.train import train
    from trainfix.training.callbacks.full_gradient import FullGradientNorm

    overrides = (
        "model=leap_lenet",
        "trainer.max_epochs=3",
        "data.train_subset=400",
        "data.test_subset=200",
        "data.batch_size=200",
        "convergence.full_gradient=true",
        "data.eval_train=true",
    )
    train(tiny_cfg(*overrides, run_dir=tmp_path / "shared_pass"))
    monkeypatch.setattr(FullGradientNorm, "setup", lambda self, trainer, module, stage: None)  # the separate loader
    train(tiny_cfg(*overrides, run_dir=tmp_path / "separate_loader"))
    shared, separate = (pd.read_csv(tmp_path / name / "metrics.csv") for name in ("shared_pass", "separate_loader"))
    compared = [c for c in separate.columns if not c.endswith("_s")]
    assert {"train_eval_acc", "train_eval_loss", "grad_norm_full", "train_loss", "test_acc"} <= set(compared)
    # train_eval_loss is a mean over chunks of convergence.full_gradient_chunk (1000) instead of loader
    # batches of data.eval_batch_size (500 here): the same per-sample losses, summed in another order.
    exact = [c for c in compared if c != "train_eval_loss"]
    pd.testing.assert_frame_equal(shared[exact], separate[exact], check_exact=True)
    pd.testing.assert_series_equal(shared["train_eval_loss"], separate["train_eval_loss"], check_exact=False, rtol=1e-6)
    assert shared["train_loss"].iloc[1] != shared["train_loss"].iloc[2]  # it trained
