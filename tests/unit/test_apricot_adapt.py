"""Apricot's Eqs. 1-4 (trainfix.apricot.adapt) against hand computations, and the vectorized batch
adjustment against the naive per-sample reference; the reduced-model windows (trainfix.data.windows)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from trainfix.apricot.adapt import (
    ReducedWeights,
    adaptable_tensors,
    adjust_batch,
    adjust_sample,
    get_flat,
    naive_adjust_batch,
    set_flat,
)
from trainfix.data.windows import resolve_order, strided_starts, uncovered, window_indices


# ------------------------------------------------------------------------------ windows
def test_windows_follow_the_paper_stride_and_never_wrap():
    starts = strided_starts(50_000, 10_000, 2_000, 20)
    assert starts[:3] == [0, 2_000, 4_000] and starts[-1] == 38_000
    w = window_indices(50_000, 2_000, 10_000, "official")
    assert w[0] == 2_000 and w[-1] == 11_999 and len(w) == 10_000
    never = uncovered(50_000, starts, 10_000, "official")
    assert never.tolist() == list(range(48_000, 50_000))  # the paper's 2,000 unused images
    with pytest.raises(ValueError, match="no wrap-around"):
        window_indices(50_000, 42_000, 10_000, "official")
    with pytest.raises(ValueError, match="no wrap-around"):
        strided_starts(50_000, 10_000, 2_000, 22)


def test_permutation_windows_are_seeded_and_required_for_class_ordered_copies():
    a = window_indices(1_000, 100, 200, "permutation", seed=0)
    assert torch.equal(a, window_indices(1_000, 100, 200, "permutation", seed=0))
    assert not torch.equal(a, window_indices(1_000, 100, 200, "permutation", seed=1))
    assert len(set(a.tolist())) == 200 and not torch.equal(a, torch.arange(100, 300))
    # consecutive windows of the permutation overlap exactly as file-order windows do
    b = window_indices(1_000, 150, 200, "permutation", seed=0)
    assert len(set(a.tolist()) & set(b.tolist())) == 150
    assert resolve_order("auto", official_order=False, dataset="cifar10_jpeg") == "permutation"
    assert resolve_order("auto", official_order=True, dataset="cifar10") == "official"
    with pytest.raises(ValueError, match="cifar10_jpeg"):
        resolve_order("official", official_order=False, dataset="cifar10_jpeg")
    with pytest.raises(ValueError, match="accepted"):
        resolve_order("sorted", official_order=True, dataset="cifar10")


# ------------------------------------------------------------------------------ Eqs. 1-4 by hand
def two_layer(w1, b1, w2, b2) -> nn.Module:
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2))
    with torch.no_grad():
        for t, v in zip(net.parameters(), (w1, b1, w2, b2), strict=True):
            t.copy_(torch.tensor(v, dtype=torch.float32))
    return net.eval()


def flat_numpy(net: nn.Module) -> np.ndarray:
    return np.concatenate([p.detach().numpy().ravel() for p in net.parameters()]).astype(np.float64)


MODEL_WEIGHTS = ([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0], [[0.0, 1.0], [1.0, 0.0]], [0.0, 0.0])  # swaps the classes
MODEL = two_layer(*MODEL_WEIGHTS)
REDUCED_WEIGHTS = [
    ([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0], [[1.0, 0.0], [0.0, 1.0]], [0.5, 0.0]),    # correct on x=(2,1), y=0
    ([[2.0, 0.0], [0.0, 1.0]], [0.1, 0.0], [[1.0, 0.0], [0.0, 1.0]], [0.0, -0.5]),   # correct
    ([[1.0, 0.0], [0.0, 0.5]], [0.0, 0.2], [[0.0, 1.0], [1.0, 0.0]], [0.0, 0.0]),    # incorrect
]
X = torch.tensor([[2.0, 1.0]])
Y = torch.tensor([0])


@pytest.mark.parametrize("direction", ["toward", "printed"])
@pytest.mark.parametrize("strategy", [1, 2, 3])
def test_each_strategy_matches_the_hand_computation(strategy, direction):
    r = 0.001
    nets = [two_layer(*w) for w in REDUCED_WEIGHTS]
    assert [int(m(X).argmax()) for m in nets] == [0, 0, 1] and int(MODEL(X).argmax()) == 1
    w = flat_numpy(MODEL)
    theirs = [flat_numpy(m) for m in nets]
    avg_c, avg_i = (theirs[0] + theirs[1]) / 2, theirs[2]  # Eq. 1 over each group (divided by its size)
    p_c, p_i = 2 / 3, 1 / 3
    delta = {1: p_c * (w - avg_c) - p_i * (w - avg_i), 2: p_c * (w - avg_c), 3: -p_i * (w - avg_i)}[strategy]
    expected = w + r * delta if direction == "printed" else w - r * delta
    if direction == "toward" and strategy in (1, 2):  # the text: closer to the correct rDLMs' average
        assert np.abs(expected - avg_c).sum() < np.abs(w - avg_c).sum()

    net = two_layer(*MODEL_WEIGHTS)
    tensors = adaptable_tensors(net)
    reduced = ReducedWeights.from_nets(nets)
    correct = torch.tensor([[int(m(X).argmax()) == 0] for m in nets])
    outcome = adjust_batch(net, tensors, reduced, X, Y, correct, strategy, direction, r)
    assert (outcome.failing, outcome.adjusted) == (1, 1)
    np.testing.assert_allclose(flat_numpy(net), expected, rtol=0, atol=1e-7)
    assert not np.allclose(flat_numpy(net), w)


def test_empty_incorrect_group_drops_its_term_and_no_correct_rdlm_changes_nothing():
    nets = [two_layer(*w) for w in REDUCED_WEIGHTS[:2]]  # both correct: b = 0
    reduced = ReducedWeights.from_nets(nets)
    w = get_flat(adaptable_tensors(MODEL))
    all_correct = torch.tensor([True, True])
    s1 = adjust_sample(w, reduced, all_correct, 1, "toward", 0.001)
    s2 = adjust_sample(w, reduced, all_correct, 2, "toward", 0.001)
    torch.testing.assert_close(s1, s2)  # strategy 1 without its incorrect term is strategy 2 (p_corr = 1)
    torch.testing.assert_close(adjust_sample(w, reduced, all_correct, 3, "toward", 0.001), w)

    net = two_layer(*MODEL_WEIGHTS)
    before = get_flat(adaptable_tensors(net))
    none_correct = torch.zeros(3, 1, dtype=torch.bool)
    outcome = adjust_batch(net, adaptable_tensors(net), ReducedWeights.from_nets([two_layer(*w) for w in REDUCED_WEIGHTS]),
                           X, Y, none_correct, 1, "toward", 0.001)
    assert (outcome.failing, outcome.adjusted) == (1, 0)
    assert torch.equal(get_flat(adaptable_tensors(net)), before)


def test_group_averages_from_running_sums_equal_direct_averages():
    torch.manual_seed(0)
    matrix = torch.randn(20, 1000, dtype=torch.float64)
    reduced = ReducedWeights(matrix, matrix.sum(0))
    for a in (1, 7, 13, 19, 20):
        correct = torch.zeros(20, dtype=torch.bool)
        correct[torch.randperm(20)[:a]] = True
        s_c, s_i = reduced.group_sums(correct)
        torch.testing.assert_close(s_c / a, matrix[correct].mean(0))
        if a < 20:
            torch.testing.assert_close(s_i / (20 - a), matrix[~correct].mean(0))


def small_bn_net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 4))
    with torch.no_grad():  # distinct running statistics, so the buffers are adapted visibly
        net[1].running_mean.normal_()
        net[1].running_var.uniform_(0.5, 2.0)
    return net.eval()


@pytest.mark.parametrize("parameters_only", [False, True])
@pytest.mark.parametrize("strategy,direction", [(1, "toward"), (2, "printed"), (3, "toward")])
def test_vectorized_batch_equals_the_naive_per_sample_reference(strategy, direction, parameters_only):
    torch.manual_seed(1)
    x, y = torch.randn(20, 8), torch.randint(0, 4, (20,))
    reduced_nets = [small_bn_net(10 + i) for i in range(6)]
    fast, slow = small_bn_net(0), small_bn_net(0)
    r = 0.05  # large enough that adjustments change later predictions in the batch
    correct = torch.stack([m(x).argmax(1) == y for m in reduced_nets])
    reduced = ReducedWeights.from_nets(reduced_nets, parameters_only)
    got = adjust_batch(fast, adaptable_tensors(fast, parameters_only), reduced, x, y, correct, strategy, direction, r)
    want = naive_adjust_batch(slow, reduced_nets, x, y, strategy, direction, r, parameters_only)
    assert (got.failing, got.adjusted) == (want.failing, want.adjusted) and got.adjusted > 3
    for a, b in zip(fast.state_dict().values(), slow.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    moved = not torch.equal(fast[1].running_mean, small_bn_net(0)[1].running_mean)
    assert moved is (not parameters_only)


def test_set_flat_round_trips():
    net = small_bn_net(3)
    tensors = adaptable_tensors(net)
    flat = get_flat(tensors)
    set_flat(tensors, flat * 2)
    torch.testing.assert_close(get_flat(tensors), flat * 2)
    assert net[1].num_batches_tracked.dtype == torch.long  # integer buffers are not weights


@pytest.mark.parametrize("direction", ["toward", "printed"])
@pytest.mark.parametrize("strategy", [1, 2, 3])
def test_fused_update_equals_the_equations_as_written(strategy, direction):
    from trainfix.apricot.adapt import step

    torch.manual_seed(2)
    matrix = torch.randn(20, 500, dtype=torch.float64)
    reduced = ReducedWeights(matrix, matrix.sum(0))
    w = torch.randn(500, dtype=torch.float64)
    for a in (1, 12, 20):
        correct = torch.zeros(20, dtype=torch.bool)
        correct[:a] = True
        avg_i = matrix[~correct].mean(0) if a < 20 else None
        want = step(w, matrix[correct].mean(0), avg_i, a / 20, (20 - a) / 20, strategy, direction, 0.01)
        torch.testing.assert_close(adjust_sample(w, reduced, correct, strategy, direction, 0.01), want)
