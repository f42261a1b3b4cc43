"""DeepEutaxy on models trained on real data (1 epoch in-process, or a tiny run): similarity against an
independent computation, the authors' score and distance, scoring leaves training state bit-identical, and
a run trains in the saved order. (Order, tie-breaks, schedule, the authors' overwrite:
tests/unit/test_deepeutaxy.py.)"""

import copy
import json

import pytest
import torch
import torch.nn.functional as F

from trainfix.data.datamodule import ImageDataModule
from trainfix.models import build_model
from trainfix.strategies import DeepEutaxy
from trainfix.training.module import Classifier


def fitted(fit_one_epoch, data_dir, model="lenet5", dataset="mnist", n=400, batch=100, **de_kwargs):
    """A DE strategy trained 1 epoch on real data (`n` samples), with its trainer and module."""
    strategy = DeepEutaxy(iter_count=100, **de_kwargs)
    dm = ImageDataModule(
        dataset,
        str(data_dir),
        batch_size=batch,
        eval_batch_size=500,
        train_subset=n,
        test_subset=100,
        accept_nonofficial=dataset == "cifar10",
    )
    dm.attach(strategy, seed=0)
    dm.load()
    channels, size, _ = dm.input_shape
    torch.manual_seed(0)
    net = build_model(model, num_classes=10, in_channels=channels, image_size=size)
    module = Classifier(
        net, strategy, 10, optimizer=lambda params: torch.optim.Adadelta(params, lr=1.0), eval_names=dm.eval_names
    )
    return strategy, fit_one_epoch(module, dm), module, dm


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
def test_similarity_matches_independent_computation(fit_one_epoch, data_dir, which):
    strategy, trainer, module, dm = fitted(fit_one_epoch, data_dir, params=which)
    ours = strategy.score_batches(trainer, module)
    expected = independent_scores(module.net, dm, strategy.batches, which)
    assert ours.shape == (4,)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-6)
    n_tensors = sum(1 for p in module.net.parameters() if which == "all" or p.ndim >= 2)
    assert (ours.abs() <= n_tensors).all()  # a sum of cosines


def test_authors_score_drops_confident_mistakes_as_the_keras_loss(fit_one_epoch, data_dir):
    """Sharpened logits (last layer x 60) make the fitted LeNet-5 confidently wrong on some samples: under
    authors_code their gradient is 0 in each batch's loss (mean over all the batch's samples), so each
    batch's distance is the one of the gradient over its other samples; the plain cross-entropy differs."""
    strategy, trainer, module, dm = fitted(fit_one_epoch, data_dir, variant="authors_code")
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
            store.append(
                sum(
                    1
                    - float(
                        p.detach().double().flatten()
                        @ g.double().flatten()
                        / (p.detach().double().norm() * g.double().norm())
                    )
                    for p, g in zip(params, grads)
                )
            )
    ours = strategy.score_batches(trainer, module)
    torch.testing.assert_close(ours, torch.tensor(expected, dtype=torch.float64), rtol=1e-4, atol=1e-4)
    assert (torch.tensor(plain, dtype=torch.float64) - ours).abs().max() > 1e-3


def test_authors_distance_is_tensor_count_minus_similarity(fit_one_epoch, data_dir):
    strategy, trainer, module, dm = fitted(fit_one_epoch, data_dir, variant="authors_code")
    distance = strategy.score_batches(trainer, module)
    n_tensors = len(list(module.net.parameters()))
    similarity = independent_scores(module.net, dm, strategy.batches, "all")
    torch.testing.assert_close(distance, n_tensors - similarity, rtol=1e-5, atol=1e-5)


def test_scoring_leaves_weights_optimizer_bn_and_rng_bit_identical(fit_one_epoch, data_dir):
    for mode in ("eval", "train"):
        strategy, trainer, module, _ = fitted(
            fit_one_epoch, data_dir, model="resnet20", dataset="cifar10", n=64, batch=16, score_mode=mode
        )
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
                assert torch.equal(
                    torch.as_tensor(after["state"][pid][key]), torch.as_tensor(value)
                ), f"{mode}: optimizer {key}"
        for p, g in zip(module.net.parameters(), grads, strict=True):
            assert (p.grad is None and g is None) or torch.equal(p.grad, g)
        assert torch.equal(torch.get_rng_state(), rng)
        assert module.training


def test_de_run_trains_in_the_saved_order(tiny_cfg, tmp_path):
    from trainfix.train import train

    _, objects = train(
        tiny_cfg("strategy=deepeutaxy", "strategy.iter_count=1", "trainer.max_epochs=3", run_dir=tmp_path / "run")
    )
    lines = [json.loads(line) for line in (tmp_path / "run" / "de_refreshes.jsonl").read_text().splitlines()]
    assert [r["after_epoch"] for r in lines] == [0, 1]  # none after the last epoch
    strategy = objects["module"].strategy
    assert strategy.sequence == lines[-1]["order"]
    ordered_scores = [lines[-1]["scores"][b] for b in lines[-1]["order"]]
    assert sorted(lines[-1]["order"]) == list(range(8)) and ordered_scores == sorted(ordered_scores)
    assert [b.tolist() for b in strategy.plan_epoch(2)] == [strategy.batches[b].tolist() for b in lines[-1]["order"]]
