"""DeepEutaxy: the Keras cross-entropy by hand, order and tie-breaks, the schedule, and the authors' code's
overwrite against NumPy views. (On trained models: tests/integration/test_deepeutaxy_runs.py.)"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from trainfix.strategies import DeepEutaxy, SelfPacedDeepEutaxy


def test_keras_eager_cross_entropy_by_hand():
    """Two samples: p_true = softmax(z)[y]. Sample 0 is confidently wrong (p_true = e^-30 / (1 + 2 e^-30) < 1e-7):
    TF clips it to 1e-7, so its loss term is -log(1e-7) and its gradient 0. Sample 1 is ordinary: loss -log p,
    gradient (p - onehot) / 2."""
    from trainfix.strategies.deepeutaxy import keras_eager_cross_entropy

    logits = torch.tensor([[30.0, 0.0, 0.0], [1.0, 2.0, 0.5]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([1, 1])
    loss = keras_eager_cross_entropy(logits, y)
    e = [math.exp(v) for v in (1.0, 2.0, 0.5)]
    p1 = [v / sum(e) for v in e]
    assert float(loss.detach()) == pytest.approx((-math.log(1e-7) - math.log(p1[1])) / 2, rel=1e-6)
    loss.backward()
    expected = torch.tensor([[0.0, 0.0, 0.0], [p1[0] / 2, (p1[1] - 1) / 2, p1[2] / 2]], dtype=torch.float64)
    torch.testing.assert_close(logits.grad, expected, rtol=1e-5, atol=1e-12)  # float32 softmax inside
    # without confident mistakes it is the ordinary cross-entropy
    z = torch.tensor([[0.3, -0.2, 0.1], [1.0, 2.0, 0.5]])
    torch.testing.assert_close(keras_eager_cross_entropy(z, y), F.cross_entropy(z, y), rtol=1e-6, atol=1e-7)


def test_order_is_ascending_with_seeded_tie_breaks():
    de = DeepEutaxy()
    de.bind(50, 10, seed=3)
    scores = torch.tensor([0.3, 0.1, 0.3, 0.2, 0.1], dtype=torch.float64)
    orders = {tuple(de.sort_order(scores, epoch)) for epoch in range(20)}
    for order in orders:
        assert sorted(order[:2]) == [1, 4] and order[2] == 3 and sorted(order[3:]) == [0, 2]
    assert len(orders) > 1, "ties are broken randomly, differently across refreshes"
    assert de.sort_order(scores, 7) == de.sort_order(scores, 7)
    distinct = torch.tensor([0.5, -0.2, 0.9, 0.1], dtype=torch.float64)
    assert de.sort_order(distinct, 0) == torch.argsort(distinct).tolist() == [1, 3, 0, 2]


def test_refresh_schedule_paper_and_authors():
    paper, code = DeepEutaxy(iter_count=5), DeepEutaxy(iter_count=5, variant="authors_code")
    assert [e for e in range(16) if paper.refresh_due_after(e)] == [0, 5, 10, 15]
    assert [e for e in range(16) if code.refresh_due_after(e)] == [4, 9, 14]
    assert code.order == "dataset"


def simulate_code(n_slots, orders, overwrite):
    """The authors' loops on a real NumPy array whose batch list holds views into it."""
    train_x = np.arange(n_slots * 3).reshape(n_slots, 3).copy()
    views = [train_x[k] for k in range(n_slots)]
    for i, order in enumerate(orders):
        if overwrite == "de":  # DE.py: for b in sorted_batches: train_x[i] = b
            for b in order:
                train_x[i] = views[b]
        else:  # SPL+DE.py: train_x[k] = batch order[k]
            for k, b in enumerate(order):
                train_x[k] = views[b]
    return train_x


@pytest.mark.parametrize("cls,kind", [(DeepEutaxy, "de"), (SelfPacedDeepEutaxy, "spl_de")])
def test_authors_overwrite_matches_numpy_views(cls, kind):
    rng = np.random.default_rng(0)
    orders = [rng.permutation(6).tolist() for _ in range(4)]
    strategy = cls(variant="authors_code")
    strategy.bind(18, 3, seed=0)
    for order in orders:
        strategy.apply_authors_overwrite(order)
        strategy.refreshes += 1
    expected = simulate_code(6, orders, kind)
    assert torch.equal(torch.stack(strategy.batches), torch.from_numpy(expected))
    assert strategy.plan_epoch(0) == strategy.batches  # the training order itself never changes


def test_zero_tensor_is_skipped_as_scipy_nan_in_the_authors_distance():
    """scipy's cosine distance is NaN for a zero vector and the code (utils/grad.py) skips NaN terms:
    a zero bias adds nothing, not 1 - 0 = 1; the paper's similarity skips it too."""
    import warnings

    from scipy.spatial import distance

    from trainfix.strategies.deepeutaxy import similarity

    torch.manual_seed(0)
    params = [torch.randn(6, 5), torch.zeros(6), torch.randn(3)]
    grads = [torch.randn(6, 5), torch.randn(6), torch.zeros(3)]  # a zero weight tensor and a zero gradient
    code_sum = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy warns on 0/0
        for a, b in zip(params, grads):
            d = distance.cosine(a.double().flatten().numpy(), b.double().flatten().numpy())
            if not np.isnan(d):
                code_sum += d
    assert code_sum == pytest.approx(
        distance.cosine(params[0].double().flatten().numpy(), grads[0].double().flatten().numpy())
    )
    assert float(similarity(params, grads, distance=True)) == pytest.approx(code_sum, rel=1e-12)
    cos0 = float(F.cosine_similarity(params[0].flatten(), grads[0].flatten(), dim=0))
    assert float(similarity(params, grads)) == pytest.approx(cos0, rel=1e-6)


@pytest.mark.parametrize(("variant", "expected"), [("paper", 10), ("authors_code", 5)])
def test_table_vii_spl_de_refresh_interval_follows_the_variant(tmp_path, variant, expected):
    """SPL+DE.py on CIFAR-10 runs `total_iter_num = 10; epochs_num = 5`: a re-sort every 5 epochs;
    the paper's CIFAR-10 interval is 10. DE's Table VII row keeps 10 under both."""
    from hydra.utils import instantiate

    from tests.conftest import compose_train

    cfg = compose_train(
        ["experiment=deepeutaxy/table_vii/resnet32", "strategy=spl_deepeutaxy", f"variant={variant}"], tmp_path
    )
    strategy = instantiate(cfg.strategy)
    assert isinstance(strategy, SelfPacedDeepEutaxy) and strategy.iter_count == expected
    assert strategy.variant == variant
    cfg = compose_train(
        ["experiment=deepeutaxy/table_vii/resnet20", "strategy=deepeutaxy", f"variant={variant}"], tmp_path
    )
    assert instantiate(cfg.strategy).iter_count == 10
