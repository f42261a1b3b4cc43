"""The worked example strategy (docs/adding_a_technique.md) against a hand computation."""

from __future__ import annotations

import pytest
import torch

from trainfix.strategies import LossThreshold


def test_step_loss_is_the_mean_of_the_losses_at_or_above_the_threshold() -> None:
    strategy = LossThreshold(threshold=0.5)
    losses = torch.tensor([0.1, 0.5, 2.0, 0.3, 1.5], requires_grad=True)
    reduction = strategy.reduce_loss(losses, torch.arange(5), global_size=5)
    step = (reduction.weights * losses).sum() / 5
    # kept: 0.5, 2.0, 1.5 -> (0.5 + 2.0 + 1.5) / 3
    assert step.item() == pytest.approx(4.0 / 3)
    step.backward()
    assert losses.grad.tolist() == pytest.approx([0.0, 1 / 3, 1 / 3, 0.0, 1 / 3])


def test_nothing_kept_skips_the_step_and_threshold_zero_is_the_plain_mean() -> None:
    losses = torch.tensor([0.01, 0.02])
    assert LossThreshold(threshold=1.0).reduce_loss(losses, torch.arange(2), 2).skip_if_all_zero
    assert LossThreshold(threshold=1.0).reduce_loss(losses, torch.arange(2), 2).weights.tolist() == [0.0, 0.0]
    assert LossThreshold(threshold=0.0).reduce_loss(losses, torch.arange(2), 2).weights.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("bad", [-0.1, float("nan"), "high"])
def test_a_bad_threshold_names_the_key_and_what_is_accepted(bad: object) -> None:
    with pytest.raises(ValueError, match=r"strategy\.threshold=.*>= 0"):
        LossThreshold(threshold=bad)  # type: ignore[arg-type]
