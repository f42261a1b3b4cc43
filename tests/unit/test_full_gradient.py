"""grad_norm_full (Eq. 12 on the data loss over the whole training set) against a direct PyTorch computation."""

import json
import math
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from trainfix.callbacks.full_gradient import full_data_gradient, gradient_norm


class FakeData:
    """The datamodule's gather contract over real tensors (images already float)."""

    def __init__(self, x, y):
        self.x, self.y = x, y
        self.splits = {"train": SimpleNamespace(labels=y)}

    def gather(self, split, indices):
        return self.x[indices], self.y[indices]


class Wrapped(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)


def direct_gradient(net, x, y):
    """One forward of the whole set in eval mode, mean cross-entropy, .backward()."""
    net.eval()
    net.zero_grad()
    F.cross_entropy(net(x), y).backward()
    return [p.grad.double().clone() for p in net.parameters()]


def test_full_gradient_equals_direct_computation_chunked_and_sharded(data_dir):
    from trainfix.data.datasets import load_split

    split = load_split("mnist", str(data_dir), train=True)
    x = split.images[:700].float().div(255).flatten(1)
    y = split.labels[:700].long()
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(784, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 10))
    module = Wrapped(net)
    with torch.no_grad():  # BatchNorm running statistics that are not the identity
        module.train()
        for _ in range(3):
            net(x)
    module.train()
    buffers = {k: v.clone() for k, v in net.named_buffers()}
    data = FakeData(x, y)

    ours = full_data_gradient(module, data, chunk_size=128)  # 700 = 5 x 128 + 60: uneven chunks
    expected = direct_gradient(net, x, y)
    for a, b in zip(ours, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    assert gradient_norm(ours) == pytest.approx(float(torch.linalg.vector_norm(torch.cat([g.flatten() for g in expected]))), rel=1e-6)
    assert module.training  # mode restored
    for k, v in net.named_buffers():
        assert torch.equal(v, buffers[k])  # eval mode: no BatchNorm statistic moved

    # DDP: two ranks take alternate chunks; summing their sums and counts gives the same mean.
    parts = [full_data_gradient(module, data, 128, rank=r, world=2, reduce_sum=None) for r in (0, 1)]
    counts = [len(range(r * 128, 700, 256)) for r in (0, 1)]
    assert counts == [3, 3]
    n0 = sum(min(128, 700 - s) for s in range(0, 700, 256))
    combined = [(a * n0 + b * (700 - n0)) / 700 for a, b in zip(*parts, strict=True)]
    for a, b in zip(combined, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_run_records_grad_norm_full_and_reading_full(tiny_cfg, tmp_path):
    """In a real run: the recorded grad_norm_full equals the direct gradient at the final weights."""
    from trainfix.train import train

    cfg = tiny_cfg("trainer.max_epochs=1", "convergence.full_gradient=true", "convergence.reading=full",
                   "convergence.full_gradient_chunk=300", run_dir=tmp_path / "run")
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


def test_reading_full_without_the_measurement_is_refused(tmp_path):
    from trainfix.callbacks.convergence import Convergence

    with pytest.raises(ValueError, match=r"convergence.reading=full needs convergence.full_gradient=true"):
        Convergence(tmp_path, reading="full")


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
    cfg = tiny_cfg("trainer.max_epochs=2", "convergence.full_gradient=true", "data.eval_train=true",
                   "convergence.full_gradient_chunk=300", run_dir=tmp_path / "run")
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

    train(tiny_cfg("trainer.max_epochs=2", "trainer.check_val_every_n_epoch=2", "convergence.full_gradient=true",
                   "data.eval_train=true", run_dir=tmp_path / "run"))
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert metrics["grad_norm_full"].notna().all() and (metrics["full_gradient_time_s"] > 0).all()
    assert metrics["train_eval_acc"].isna().tolist() == [True, False]  # measured where the epoch validated
    assert metrics["test_acc"].isna().tolist() == [True, False]


def test_taking_train_eval_over_keeps_a_dropout_models_random_stream(tiny_cfg, tmp_path, monkeypatch):
    """CNN1 has dropout: the pass that replaces the train_eval loader must leave the global random
    stream (and so every weight and number) as the separate loader left it."""
    from trainfix.callbacks.full_gradient import FullGradientNorm
    from trainfix.train import train

    overrides = ("model=cnn1", "trainer.max_epochs=3", "data.train_subset=600", "data.test_subset=200",
                 "data.batch_size=200", "convergence.full_gradient=true", "data.eval_train=true")
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
