"""SPL on real data (4 batches of real MNIST, in-process): a run with nothing selected makes no update, and
the paper's and the authors' readings of "no update" (BatchNorm statistics, Adagrad's step counter).
(Mask, loss and schedule against hand-computed values: tests/unit/test_spl.py.)"""

import math

import pytest
import torch

from trainfix.strategies.spl import SelfPaced


def test_spl_run_with_nothing_selected_makes_no_update(tiny_cfg, tmp_path):
    """lambda0 = 0.1 nats: no sample of an untrained net is that easy, so no step changes the weights."""
    import pandas as pd

    from trainfix.train import train

    _, objects = train(tiny_cfg("strategy=spl", "trainer.max_epochs=1", run_dir=tmp_path / "run"))
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert metrics["spl_selected_frac"][0] == 0.0
    assert metrics["samples_seen"][0] == 0
    assert math.isnan(metrics["grad_norm_last"][0]) and math.isnan(metrics["grad_norm_mean"][0])  # no step, no norm
    optimizer = objects["module"].optimizers().optimizer
    assert all(float(state["sum"].abs().sum()) == 0.0 for state in optimizer.state.values())


def fit_one_epoch_with_nothing_selected(fit_one_epoch, data_dir, variant):
    """A BatchNorm network trained 1 epoch (4 batches of 100 real MNIST images) by SPL with a
    threshold no sample meets; returns (network state before, after, the Adagrad optimizer, module)."""
    import copy

    from torch import nn

    from trainfix.data.datamodule import ImageDataModule
    from trainfix.training.module import Classifier

    strategy = SelfPaced(lambda0=1e-6, variant=variant)  # CE < 1e-6 (paper) / p_true < 1e-6 (code): nobody
    dm = ImageDataModule("mnist", str(data_dir), batch_size=100, eval_batch_size=500, train_subset=400, test_subset=100)
    dm.attach(strategy, seed=0)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 10))
    before = copy.deepcopy(net.state_dict())
    module = Classifier(
        net,
        strategy,
        10,
        optimizer=lambda params: torch.optim.Adagrad(params, lr=0.1, lr_decay=5e-4),
        eval_names=dm.eval_names,
    )
    fit_one_epoch(module, dm)
    return before, net.state_dict(), module.optimizers().optimizer, module


def test_unselected_steps_leave_batchnorm_bit_identical(fit_one_epoch, data_dir):
    """Paper variant: 'no update' means no change at all, BatchNorm running statistics included."""
    before, after, optimizer, module = fit_one_epoch_with_nothing_selected(fit_one_epoch, data_dir, "paper")
    for key, value in before.items():
        assert torch.equal(after[key], value), key
    assert int(after["2.num_batches_tracked"]) == 0
    assert optimizer.state == {} or all(float(s["step"]) == 0 for s in optimizer.state.values())


def test_authors_code_steps_the_optimizer_on_a_zero_loss(fit_one_epoch, data_dir):
    """authors_code: train_on_batch runs whatever the mask, so Adagrad's iteration counter (its lr
    decay) advances 4 times on zero gradients; the weights do not move; BatchNorm statistics do."""
    before, after, optimizer, module = fit_one_epoch_with_nothing_selected(fit_one_epoch, data_dir, "authors_code")
    steps = {float(s["step"]) for s in optimizer.state.values()}
    assert steps == {4.0}
    assert module.current_lr() == pytest.approx(0.1 / (1 + 3 * 5e-4))  # the 4th update's decayed rate
    for key in ("1.weight", "1.bias", "4.weight", "4.bias", "2.weight", "2.bias"):
        assert torch.equal(after[key], before[key]), key  # zero gradient: Adagrad moves nothing
    assert int(after["2.num_batches_tracked"]) == 4
    assert not torch.equal(after["2.running_mean"], before["2.running_mean"])
