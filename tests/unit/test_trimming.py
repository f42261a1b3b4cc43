"""Mini-batch trimming: loss, gradient, r schedule, last batch and composition (2 gloo ranks:
tests/integration/test_trimming_ranks.py), against hand computations and independent implementations."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from trainfix.strategies import STRATEGIES, Baseline, Shuffle, Trimming
from trainfix.strategies.trimming import authors_code_kept_count, kept_count


class FakeTrainer:
    """What `Trimming.on_train_start` reads from Lightning's Trainer."""

    def __init__(self, max_epochs: int, current_epoch: int = 0) -> None:
        self.max_epochs = max_epochs
        self.current_epoch = current_epoch
        self.world_size = 1


def started(max_epochs: int, num_samples: int = 128, batch_size: int = 128, **kwargs) -> Trimming:
    strategy = Trimming(**kwargs)
    strategy.bind(num_samples, batch_size, seed=0)
    strategy.on_train_start(FakeTrainer(max_epochs), None)
    return strategy


def end_epoch(strategy: Trimming) -> dict[str, float]:
    return strategy.on_train_epoch_end(strategy.epoch, FakeTrainer(strategy.max_epochs), None)


def step_loss(strategy: Trimming, losses: torch.Tensor) -> torch.Tensor:
    """The classifier's formula: sum_i w_i * loss_i / global batch size (one process)."""
    reduction = strategy.reduce_loss(losses.detach(), torch.arange(len(losses)), len(losses))
    return (losses * reduction.weights).sum() / len(losses)


def test_registered():
    assert STRATEGIES["trimming"] is Trimming


def test_trimmed_loss_and_gradient_against_hand_computation():
    """p = 0.5 of 6 samples: the 3 largest cross-entropies, averaged; dropped samples get exactly zero gradient."""
    strategy = started(max_epochs=2, num_samples=6, batch_size=6, p_start=0.5, p_end=0.5)
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.0, 1.0], [3.0, 0.0], [0.0, 0.5], [0.2, 0.0]], requires_grad=True)
    y = torch.zeros(6, dtype=torch.long)
    losses = F.cross_entropy(logits, y, reduction="none")
    loss = step_loss(strategy, losses)
    # CE for class 0 with logits (a, b) = log(1 + exp(b - a)): 0.127, 2.127, 0.693, 0.049, 0.974, 0.598
    by_hand = [math.log1p(math.exp(b - a)) for a, b in [(2, 0), (0, 2), (1, 1), (3, 0), (0, 0.5), (0.2, 0)]]
    top3 = sorted(by_hand, reverse=True)[:3]  # samples 1, 4, 2
    assert float(loss.detach()) == pytest.approx(sum(top3) / 3, rel=1e-6)
    loss.backward()
    grad = logits.grad
    for dropped in (0, 3, 5):
        assert torch.equal(grad[dropped], torch.zeros(2))
    # Kept sample i: d/dlogits of CE_i / 3 = (softmax - onehot) / 3.
    for kept in (1, 2, 4):
        expected = (torch.softmax(logits[kept].detach(), 0) - torch.tensor([1.0, 0.0])) / 3
        torch.testing.assert_close(grad[kept], expected)


def test_r_schedule_150_epochs_batch_128():
    """The paper's schedule: r = 128 at the first epoch, 26 at the last (0.2 * 128 = 25.6), never rising."""
    strategy = started(max_epochs=150)
    rs, ps = [], []
    for _ in range(150):
        step_loss(strategy, torch.rand(128))
        metrics = end_epoch(strategy)
        rs.append(metrics["trim_r"])
        ps.append(metrics["trim_p"])
    assert rs[0] == 128 and rs[-1] == 26
    assert ps[0] == 1.0 and ps[-1] == pytest.approx(0.2)
    assert all(a >= b for a, b in zip(rs, rs[1:])) and len(set(rs)) > 90
    # epoch 75: p = 1 - 0.8 * 75 / 149 = 0.597..., r = round(76.4) = 76
    assert rs[75] == 76
    # The authors' code, line by line: r = (e - 0) * (0.2M - 1.0M) / (149 - 0) + 1.0M, max(round(r), 1)
    code = [max(round((e - 0) * (0.2 * 128 - 1.0 * 128) / (149 - 0) + 1.0 * 128), 1) for e in range(150)]
    assert rs == code  # no value of this schedule falls on .5: both roundings agree


def test_last_smaller_batch_is_scaled():
    """M is the actual batch size: 60,000 samples in batches of 128 end with 96; at the last epoch
    r = round(0.2 * 96) = 19."""
    strategy = started(max_epochs=150, num_samples=60_000, batch_size=128)
    strategy.epoch = 149
    assert strategy.kept(128) == 26 and strategy.kept(96) == 19
    losses = torch.arange(96, dtype=torch.float32)
    reduction = strategy.reduce_loss(losses, torch.arange(96), 96)
    assert int((reduction.weights > 0).sum()) == 19
    assert torch.equal(reduction.weights[-19:], torch.full((19,), 96 / 19))  # the 19 largest losses
    assert float((losses * reduction.weights).sum() / 96) == pytest.approx(sum(range(77, 96)) / 19)
    assert strategy.kept(1) == 1 and started(2, p_start=0.01, p_end=0.01).kept(10) == 1  # never 0


def test_rounding_and_constant_scheme_of_the_authors_code():
    """Paper reading rounds half up; the code uses Python's round (half to even) and r = 0.5 * a * b * M."""
    assert kept_count(0.5, 5) == 3 and kept_count(0.5, 5, "authors_code") == 2  # 2.5
    assert authors_code_kept_count(1, 1, 1.0, 0.5, 5, "linear") == 2
    paper = started(max_epochs=2, num_samples=5, batch_size=5, p_end=0.5)
    code = started(max_epochs=2, num_samples=5, batch_size=5, p_end=0.5, variant="authors_code")
    paper.epoch = code.epoch = 1
    assert (paper.kept(5), code.kept(5)) == (3, 2)
    constant = started(max_epochs=150, schedule="constant")
    constant_code = started(max_epochs=150, schedule="constant", variant="authors_code")
    assert constant.kept(128) == 77  # (1.0 + 0.2) / 2 * 128 = 76.8
    assert constant_code.kept(128) == 13  # 0.5 * (1.0 * 0.2) * 128 = 12.8
    constant.epoch = constant_code.epoch = 149
    assert (constant.kept(128), constant_code.kept(128)) == (77, 13)


def test_per_step_schedule_moves_within_the_epoch():
    """per=step: t = global step / (total steps - 1): r = M at the very first step, round(0.2 M) at the very last."""
    strategy = started(max_epochs=2, num_samples=40, batch_size=10, per="step")  # 8 steps in all
    rs = []
    for _ in range(2):
        for _ in range(4):
            reduction = strategy.reduce_loss(torch.rand(10), torch.arange(10), 10)
            rs.append(int((reduction.weights > 0).sum()))
        end_epoch(strategy)
    # p = 1 - 0.8 * s / 7 for s = 0..7, r = round half up of 10 p
    assert rs == [math.floor(10 * (1 - 0.8 * s / 7) + 0.5) for s in range(8)] == [10, 9, 8, 7, 5, 4, 3, 2]


def test_epoch_metrics_and_state():
    strategy = started(max_epochs=3, num_samples=8, batch_size=4)
    strategy.reduce_loss(torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.arange(4), 4)
    strategy.reduce_loss(torch.tensor([5.0, 6.0, 7.0, 8.0]), torch.arange(4), 4)
    first = end_epoch(strategy)
    assert first == {
        "trim_p": 1.0,
        "trim_r": 4,
        "trim_kept_frac": 1.0,
        "trim_kept_loss": 4.5,
        "trim_dropped_loss": first["trim_dropped_loss"],
    }
    assert math.isnan(first["trim_dropped_loss"])
    # epoch 1: p = 0.6, r = round(2.4) = 2: kept {3, 4} and {7, 8}, dropped {1, 2} and {5, 6}
    strategy.reduce_loss(torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.arange(4), 4)
    strategy.reduce_loss(torch.tensor([8.0, 7.0, 6.0, 5.0]), torch.arange(4), 4)
    second = end_epoch(strategy)
    assert second == {
        "trim_p": pytest.approx(0.6),
        "trim_r": 2,
        "trim_kept_frac": 0.5,
        "trim_kept_loss": 5.5,
        "trim_dropped_loss": 3.5,
    }
    resumed = Trimming()
    resumed.bind(8, 4, seed=0)
    resumed.load_state_dict(strategy.state_dict())
    assert resumed.epoch == 2


def test_composes_with_shuffle_and_baseline_plans():
    for plan, reference in (("shuffle", Shuffle()), ("baseline", Baseline())):
        strategy = Trimming(plan=plan)
        strategy.bind(1000, 128, seed=3)
        reference.bind(1000, 128, seed=3)
        for epoch in (0, 1):
            assert [b.tolist() for b in strategy.plan_epoch(epoch)] == [b.tolist() for b in reference.plan_epoch(epoch)]


def test_bad_values_are_named():
    with pytest.raises(ValueError, match=r"strategy.plan='random'.*shuffle"):
        Trimming(plan="random")
    with pytest.raises(ValueError, match=r"strategy.p_end=0.*\(0, 1\]"):
        Trimming(p_end=0)
    with pytest.raises(ValueError, match=r"strategy.per='batch'"):
        Trimming(per="batch")
    with pytest.raises(ValueError, match=r"trainer.max_epochs"):
        Trimming().on_train_start(FakeTrainer(-1), None)
