"""SPL (DeepEutaxy Eqs. 3-4): mask, loss and lambda schedule against hand-computed values."""

import math

import pytest
import torch

from trainfix.strategies.spl import SelfPaced, SelfPacedSelection, minus_p_true


class OneRank:
    world_size = 1


def test_easy_first_mask_and_schedule():
    spl = SelfPacedSelection(lambda0=0.1, alpha=1.3, selection="easy_first")
    losses = torch.tensor([0.05, 0.2, 0.09, 2.3])
    assert spl.mask(losses).tolist() == [1.0, 0.0, 1.0, 0.0]
    spl.reduce(losses)
    metrics = spl.end_epoch(OneRank())
    assert metrics == {"spl_lambda": 0.1, "spl_selected_frac": 0.5}
    assert spl.lam == pytest.approx(0.13)
    assert spl.mask(losses).tolist() == [1.0, 0.0, 1.0, 0.0]  # 0.2 > 0.13 still out
    spl.end_epoch(OneRank())
    assert spl.lam == pytest.approx(0.169)
    assert spl.mask(losses).tolist() == [1.0, 0.0, 1.0, 0.0]
    spl.end_epoch(OneRank())  # 0.2197
    assert spl.mask(losses).tolist() == [1.0, 1.0, 1.0, 0.0]
    # lambda after k epochs = 0.1 * 1.3^k (Eq. 4); 2.3 nats is first admitted after 12 epochs
    assert 0.1 * 1.3**11 < 2.3 < 0.1 * 1.3**12


def test_text_reading_selects_losses_above_lambda():
    spl = SelfPacedSelection(lambda0=0.1, selection="text")
    assert spl.mask(torch.tensor([0.05, 0.2, 2.3])).tolist() == [0.0, 1.0, 1.0]


def test_authors_code_reading_selects_low_p_true_and_uses_minus_p_true():
    spl = SelfPacedSelection(lambda0=0.1, alpha=1.3, selection="authors_code")
    p_true = torch.tensor([0.05, 0.5, 0.95])
    ce = -torch.log(p_true)
    assert spl.mask(ce).tolist() == [1.0, 0.0, 0.0]  # -p_true > -0.1  <=>  p_true < 0.1
    torch.testing.assert_close(minus_p_true(ce), -p_true)
    for _ in range(9):
        spl.end_epoch(OneRank())
    # after 9 epochs 0.1 * 1.3^9 = 1.06 > 1: every sample is selected (as the reference notes)
    assert spl.mask(ce).tolist() == [1.0, 1.0, 1.0]


def test_step_loss_is_masked_batch_mean_with_gradient():
    """Through the classifier's formula: sum_i v_i * L_i / batch size."""
    strategy = SelfPaced(lambda0=0.5)
    strategy.bind(4, 4, seed=0)
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.0, 1.0], [3.0, 0.0]], requires_grad=True)
    y = torch.tensor([0, 0, 0, 0])
    ce = torch.nn.functional.cross_entropy(logits, y, reduction="none")
    red = strategy.reduce_loss(ce.detach(), torch.arange(4), 4)
    loss = (ce * red.weights).sum() / 4
    by_hand = (math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-3))) / 4  # CE < 0.5: samples 0 and 3
    assert red.weights.tolist() == [1.0, 0.0, 0.0, 1.0]
    assert float(loss.detach()) == pytest.approx(by_hand, rel=1e-6)
    assert red.skip_if_all_zero


def test_bad_selection_and_lambda_named():
    with pytest.raises(ValueError, match=r"strategy.selection='hard'.*easy_first"):
        SelfPacedSelection(selection="hard")
    with pytest.raises(ValueError, match=r"strategy.lambda0=-1"):
        SelfPacedSelection(lambda0=-1)
