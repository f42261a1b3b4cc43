"""DeepEutaxy: similarity against an independent computation, order and tie-breaks, scoring leaves
training state bit-identical, the schedule, and the authors' code's overwrite against NumPy views."""

import copy
import math
import json

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from trainfix.data.datamodule import ImageDataModule
from trainfix.models import build_model
from trainfix.models.classifier import Classifier
from trainfix.strategies import DeepEutaxy, SelfPacedDeepEutaxy


def fitted(data_dir, tmp_path, model="lenet5", dataset="mnist", n=400, batch=100, **de_kwargs):
    """A DE strategy trained 1 epoch on real data (`n` samples), with its trainer and module."""
    strategy = DeepEutaxy(iter_count=100, **de_kwargs)
    dm = ImageDataModule(dataset, str(data_dir), batch_size=batch, eval_batch_size=500, train_subset=n, test_subset=100,
                         accept_nonofficial=dataset == "cifar10")
    dm.attach(strategy, seed=0)
    dm.load()
    channels, size, _ = dm.input_shape
    torch.manual_seed(0)
    net = build_model(model, num_classes=10, in_channels=channels, image_size=size)
    module = Classifier(net, strategy, 10, optimizer=lambda params: torch.optim.Adadelta(params, lr=1.0), eval_names=dm.eval_names)
    trainer = pl.Trainer(accelerator="cpu", max_epochs=1, use_distributed_sampler=False, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, num_sanity_val_steps=0, limit_val_batches=0, default_root_dir=str(tmp_path))
    trainer.fit(module, datamodule=dm)
    return strategy, trainer, module, dm


def independent_scores(net, dm, batches, which):
    """Eq. 5-6 by hand: eval mode, mean CE of each batch, .backward(), cosine per tensor in float64."""
    net = copy.deepcopy(net).eval()
    images, labels = dm.splits["train"].images, dm.splits["train"].labels
    scores = []
    for batch in batches:
        net.zero_grad()
        F.cross_entropy(net(images[batch].float() / 255), labels[batch]).backward()
        total = 0.0
        for p in net.parameters():
            if which == "weights" and p.ndim < 2:
                continue
            a, g = p.detach().double().flatten(), p.grad.double().flatten()
            total += float(a @ g / (a.norm() * g.norm()))
        scores.append(total)
    return torch.tensor(scores, dtype=torch.float64)


@pytest.mark.parametrize("which", ["weights", "all"])
def test_similarity_matches_independent_computation(data_dir, tmp_path, which):
    strategy, trainer, module, dm = fitted(data_dir, tmp_path, params=which)
    ours = strategy.score_batches(trainer, module)
    expected = independent_scores(module.net, dm, strategy.batches, which)
    assert ours.shape == (4,)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-6)
    n_tensors = sum(1 for p in module.net.parameters() if which == "all" or p.ndim >= 2)
    assert (ours.abs() <= n_tensors).all()  # a sum of cosines


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
    assert float(loss) == pytest.approx((-math.log(1e-7) - math.log(p1[1])) / 2, rel=1e-6)
    loss.backward()
    expected = torch.tensor([[0.0, 0.0, 0.0], [p1[0] / 2, (p1[1] - 1) / 2, p1[2] / 2]], dtype=torch.float64)
    torch.testing.assert_close(logits.grad, expected, rtol=1e-5, atol=1e-12)  # float32 softmax inside
    # without confident mistakes it is the ordinary cross-entropy
    z = torch.tensor([[0.3, -0.2, 0.1], [1.0, 2.0, 0.5]])
    torch.testing.assert_close(keras_eager_cross_entropy(z, y), F.cross_entropy(z, y), rtol=1e-6, atol=1e-7)


def test_authors_score_drops_confident_mistakes_as_the_keras_loss(data_dir, tmp_path):
    """Sharpened logits (last layer x 60) make the fitted LeNet-5 confidently wrong on some samples: under
    authors_code their gradient is 0 in each batch's loss (mean over all the batch's samples), so each
    batch's distance is the one of the gradient over its other samples; the plain cross-entropy differs."""
    strategy, trainer, module, dm = fitted(data_dir, tmp_path, variant="authors_code")
    last = [m for m in module.net.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.mul_(60.0)
        last.bias.mul_(60.0)
    net = copy.deepcopy(module.net).eval()
    params = list(net.parameters())
    expected, plain = [], []
    for batch in strategy.batches:
        x, y = dm.gather("train", batch)
        p_true = torch.softmax(net(x), 1).gather(1, y[:, None]).squeeze(1).detach()
        kept = (p_true >= 1e-7) & (p_true <= 1 - 1e-7)
        assert (~kept).any()  # the case under test
        for store, mask in ((expected, kept), (plain, torch.ones_like(kept))):
            losses = F.cross_entropy(net(x), y, reduction="none")
            grads = torch.autograd.grad((losses * mask).sum() / len(y), params)
            store.append(sum(1 - float(p.detach().double().flatten() @ g.double().flatten()
                                       / (p.detach().double().norm() * g.double().norm())) for p, g in zip(params, grads)))
    ours = strategy.score_batches(trainer, module)
    torch.testing.assert_close(ours, torch.tensor(expected, dtype=torch.float64), rtol=1e-4, atol=1e-4)
    assert (torch.tensor(plain, dtype=torch.float64) - ours).abs().max() > 1e-3


def test_authors_distance_is_tensor_count_minus_similarity(data_dir, tmp_path):
    strategy, trainer, module, dm = fitted(data_dir, tmp_path, variant="authors_code")
    distance = strategy.score_batches(trainer, module)
    n_tensors = len(list(module.net.parameters()))
    similarity = independent_scores(module.net, dm, strategy.batches, "all")
    torch.testing.assert_close(distance, n_tensors - similarity, rtol=1e-5, atol=1e-5)


def test_scoring_leaves_weights_optimizer_bn_and_rng_bit_identical(data_dir, tmp_path):
    for mode in ("eval", "train"):
        strategy, trainer, module, _ = fitted(data_dir, tmp_path, model="resnet20", dataset="cifar10", n=64, batch=16, score_mode=mode)
        net_state = {k: v.clone() for k, v in module.net.state_dict().items()}
        assert any("running_mean" in k for k in net_state)
        optimizer = module.optimizers().optimizer
        opt_state = copy.deepcopy(optimizer.state_dict())
        grads = [None if p.grad is None else p.grad.clone() for p in module.net.parameters()]
        rng = torch.get_rng_state()
        strategy.score_batches(trainer, module)
        for k, v in module.net.state_dict().items():
            assert torch.equal(v, net_state[k]), f"{mode}: {k} changed"
        after = optimizer.state_dict()
        for pid, state in opt_state["state"].items():
            for key, value in state.items():
                assert torch.equal(torch.as_tensor(after["state"][pid][key]), torch.as_tensor(value)), f"{mode}: optimizer {key}"
        for p, g in zip(module.net.parameters(), grads, strict=True):
            assert (p.grad is None and g is None) or torch.equal(p.grad, g)
        assert torch.equal(torch.get_rng_state(), rng)
        assert module.training


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


def test_de_run_trains_in_the_saved_order(tiny_cfg, tmp_path):
    from trainfix.train import train

    _, objects = train(tiny_cfg("strategy=deepeutaxy", "strategy.iter_count=1", "trainer.max_epochs=3", run_dir=tmp_path / "run"))
    lines = [json.loads(line) for line in (tmp_path / "run" / "de_refreshes.jsonl").read_text().splitlines()]
    assert [r["after_epoch"] for r in lines] == [0, 1]  # none after the last epoch
    strategy = objects["module"].strategy
    assert strategy.sequence == lines[-1]["order"]
    ordered_scores = [lines[-1]["scores"][b] for b in lines[-1]["order"]]
    assert sorted(lines[-1]["order"]) == list(range(8)) and ordered_scores == sorted(ordered_scores)
    assert [b.tolist() for b in strategy.plan_epoch(2)] == [strategy.batches[b].tolist() for b in lines[-1]["order"]]


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
    assert code_sum == pytest.approx(distance.cosine(params[0].double().flatten().numpy(), grads[0].double().flatten().numpy()))
    assert float(similarity(params, grads, distance=True)) == pytest.approx(code_sum, rel=1e-12)
    cos0 = float(F.cosine_similarity(params[0].flatten(), grads[0].flatten(), dim=0))
    assert float(similarity(params, grads)) == pytest.approx(cos0, rel=1e-6)


@pytest.mark.parametrize(("variant", "expected"), [("paper", 10), ("authors_code", 5)])
def test_table_vii_spl_de_refresh_interval_follows_the_variant(tmp_path, variant, expected):
    """SPL+DE.py on CIFAR-10 runs `total_iter_num = 10; epochs_num = 5`: a re-sort every 5 epochs;
    the paper's CIFAR-10 interval is 10. DE's Table VII row keeps 10 under both."""
    from hydra.utils import instantiate

    from tests.conftest import compose_train

    cfg = compose_train(["experiment=deepeutaxy/table_vii/resnet32", "strategy=spl_deepeutaxy", f"variant={variant}"], tmp_path)
    strategy = instantiate(cfg.strategy)
    assert isinstance(strategy, SelfPacedDeepEutaxy) and strategy.iter_count == expected
    assert strategy.variant == variant
    cfg = compose_train(["experiment=deepeutaxy/table_vii/resnet20", "strategy=deepeutaxy", f"variant={variant}"], tmp_path)
    assert instantiate(cfg.strategy).iter_count == 10
