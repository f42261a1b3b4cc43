"""LEAP's parts against independent computations: Magnet loss (Eq. 1), k-means clusters per class,
neighbourhood sampling, Algorithm 2's selection rule and pace, the code's first-K rule, plans."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans

from trainfix.strategies.leap.clusters import Clusters, impostor_clusters, kmeans_per_class, neighbourhood_batch
from trainfix.strategies.leap.magnet import magnet_loss
from trainfix.strategies.leap.random_subset import RandomSubset
from trainfix.strategies.leap.selection import Pace, pace_thresholds, ranks_in_cluster, select_by_pace, select_first_k
from trainfix.strategies.leap.spld import Spld


# ---------------------------------------------------------------- Magnet loss
def magnet_by_hand(r: np.ndarray, classes: list[int], d: int, alpha: float, power: int) -> list[float]:
    """Eq. 1 with explicit loops: block means, the batch variance, exp ratios, hinge."""
    m = len(classes)
    means = [r[j * d : (j + 1) * d].mean(axis=0) for j in range(m)]
    own = [float(((r[i] - means[i // d]) ** 2).sum()) for i in range(m * d)]
    var = sum(own) / (m * d - 1)
    scale = 2 * var ** (power // 2)
    out = []
    for i in range(m * d):
        num = math.exp(-own[i] / scale - alpha)
        den = sum(
            math.exp(-float(((r[i] - means[j]) ** 2).sum()) / scale) for j in range(m) if classes[j] != classes[i // d]
        )
        out.append(max(0.0, -math.log(num / den)))
    return out


@pytest.mark.parametrize("power", [2, 4])
def test_magnet_loss_matches_a_direct_computation(power):
    rng = np.random.default_rng(0)
    r = rng.normal(size=(3 * 2, 2)) * 0.7  # M = 3 clusters x D = 2 samples, 2-D
    classes = [0, 1, 0]
    expected = magnet_by_hand(r, classes, 2, alpha=1.0, power=power)
    got = magnet_loss(torch.tensor(r), torch.tensor(classes), 2, alpha=1.0, sigma_power=power)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)
    code = magnet_loss(torch.tensor(r), torch.tensor(classes), 2, alpha=1.0, sigma_power=power, code_epsilons=True)
    np.testing.assert_allclose(code.numpy(), expected, rtol=1e-6, atol=1e-6)
    assert any(v > 0 for v in expected) and len(set(np.round(expected, 6))) > 1
    if power == 2:  # the two powers differ when sigma^2 != 1
        other = magnet_by_hand(r, classes, 2, 1.0, 4)
        assert not np.allclose(expected, other)


def test_magnet_loss_hinge_and_gradient():
    # Tight, well separated clusters: every sample's loss is 0 (the hinge), and gradients are finite.
    r = torch.tensor([[0.0, 0.0], [0.01, 0.0], [5.0, 5.0], [5.0, 5.01]], requires_grad=True)
    loss = magnet_loss(r, torch.tensor([0, 1]), 2)
    assert torch.equal(loss.detach(), torch.zeros(4))
    r2 = torch.randn(8, 2, requires_grad=True)
    magnet_loss(r2, torch.tensor([0, 1, 2, 1]), 2).mean().backward()
    assert torch.isfinite(r2.grad).all() and r2.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="sigma_power"):
        magnet_loss(r2, torch.tensor([0, 1, 2, 1]), 2, sigma_power=3)


# ---------------------------------------------------------------- clusters
def test_kmeans_per_class_matches_scikit_learn_per_class():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 2)).astype(np.float32)
    y = np.repeat([0, 1, 2], 40)
    clusters = kmeans_per_class(torch.tensor(x), torch.tensor(y), k=4, seed=3)
    assert clusters.count == 12 and clusters.cluster_class.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    for c in range(3):
        members = np.flatnonzero(y == c)
        km = KMeans(n_clusters=4, init="k-means++", n_init=10, max_iter=100, random_state=3).fit(
            x[members].astype(np.float64)
        )
        np.testing.assert_array_equal(clusters.assignment[members].numpy(), 4 * c + km.labels_)
        np.testing.assert_allclose(clusters.centres[4 * c : 4 * c + 4].numpy(), km.cluster_centers_, rtol=1e-5)
        # every sample of a class lies in a cluster of that class, at its nearest centre of that class
        centres = km.cluster_centers_
        nearest = ((x[members, None, :] - centres[None]) ** 2).sum(-1).argmin(1)
        np.testing.assert_array_equal(nearest, km.labels_)


def test_impostors_are_the_nearest_clusters_of_other_classes():
    centres = torch.tensor([[0.0, 0.0], [0.5, 0.0], [1.0, 0.0], [3.0, 0.0], [-2.0, 0.0], [0.2, 0.1]])
    classes = torch.tensor([0, 0, 1, 1, 2, 2])
    clusters = Clusters(torch.zeros(1, dtype=torch.long), centres, classes)
    # from cluster 0 (class 0): others are 2 (d^2=1), 3 (9), 4 (4), 5 (0.05) -> 5, 2, 4
    assert impostor_clusters(clusters, 0, 3).tolist() == [5, 2, 4]
    assert impostor_clusters(clusters, 2, 2).tolist() == [1, 5]  # class 1: nearest of classes 0 and 2
    with pytest.raises(ValueError, match="clusters_per_batch"):
        impostor_clusters(clusters, 0, 5)


def test_neighbourhood_batch_draws_seed_by_loss_and_samples_from_each_cluster():
    assignment = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    clusters = Clusters(
        assignment, torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.1, 0.0], [5.0, 0.0]]), torch.tensor([0, 0, 1, 1])
    )
    # only cluster 3 has a non-zero loss: it is always the seed; its nearest other-class cluster is 1
    losses = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 1.0])
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        idx, block_classes = neighbourhood_batch(clusters, losses, 2, 3, g)
        assert block_classes.tolist() == [1, 0]
        assert set(idx[:3].tolist()) <= {6, 7} and set(idx[3:].tolist()) <= {2, 3}
    # no loss anywhere yet: seeds are uniform over the 4 clusters
    seeds = [
        int(assignment[neighbourhood_batch(clusters, torch.full((8,), float("nan")), 2, 1, g)[0][0]])
        for _ in range(400)
    ]
    counts = np.bincount(seeds, minlength=4)
    assert counts.min() > 60


# ---------------------------------------------------------------- selection
def test_pace_threshold_ranks_1_to_4_by_hand():
    got = pace_thresholds(0.1, 0.5, torch.tensor([1, 2, 3, 4])).tolist()
    expected = [
        0.1 + 0.5 / 1.0,
        0.1 + 0.5 / (math.sqrt(2) + 1),
        0.1 + 0.5 / (math.sqrt(3) + math.sqrt(2)),
        0.1 + 0.5 / (2 + math.sqrt(3)),
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-15)
    np.testing.assert_allclose(got, [0.6, 0.30710678, 0.25891862, 0.23397460], atol=1e-8)  # decimals by hand


def test_selection_rule_per_cluster_sorted_by_loss():
    # cluster 0: losses 0.05, 0.5, 0.25, 0.22 -> ranks 1, 4, 3, 2; thresholds 0.6, 0.307, 0.259, 0.234
    # cluster 1: 0.31 is rank 1 (< 0.6: in), 0.59 rank 2 (< 0.307: out), NaN (never trained) rank 3: out
    losses = torch.tensor([0.05, 0.5, 0.25, 0.22, 0.59, 0.31, float("nan")])
    assignment = torch.tensor([0, 0, 0, 0, 1, 1, 1])
    assert ranks_in_cluster(losses, assignment).tolist() == [1, 4, 3, 2, 2, 1, 3]
    mask = select_by_pace(losses, assignment, 0.1, 0.5)
    # 0.05 < 0.6 in; 0.22 (rank 2) < 0.307 in; 0.25 (rank 3) < 0.259 in; 0.5 (rank 4) < 0.234 out
    assert mask.tolist() == [True, False, True, True, False, True, False]
    assert select_by_pace(losses, assignment, 0.1, 0.4).tolist() == [True, False, False, True, False, True, False]


def test_pace_updates_and_code_rule():
    pace = Pace(0.1, 0.5, 1.2, 1.5, update="epoch", k0=500, grow_k=0.1)
    pace.advance(batches=7)
    assert (pace.lam, pace.gamma, pace.k) == pytest.approx((0.12, 0.75, 550))
    per_batch = Pace(0.1, 0.5, 1.01, 1.02, update="batch")
    per_batch.advance(batches=3)
    assert per_batch.lam == pytest.approx(0.1 * 1.01**3) and per_batch.gamma == pytest.approx(0.5 * 1.02**3)
    assignment = torch.tensor([1, 0, 1, 1, 0, 2, 1])
    assert select_first_k(assignment, 2).tolist() == [True, True, True, False, True, True, False]
    with pytest.raises(ValueError, match="pace_update"):
        Pace(0.1, 0.5, 1.1, 1.1, update="step")


# ---------------------------------------------------------------- plans
def test_plan_holds_exactly_the_selected_samples():
    strategy = Spld(lambda0=0.1, gamma0=0.5, max_updates=None)
    strategy.bind(num_samples=10, batch_size=3, seed=4)
    first = torch.cat(strategy.plan_epoch(0))
    assert sorted(first.tolist()) == list(range(10)) and first.tolist() != list(range(10))
    strategy.clusters = Clusters(
        torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 2]), torch.zeros(3, 2), torch.tensor([0, 1, 2])
    )
    for batch in strategy.plan_epoch(0):
        strategy.reduce_loss(
            torch.tensor([0.01, 0.9, 0.2, 0.02, 0.3, 0.03, 0.7, 0.04, 0.05, 0.25])[batch], batch, len(batch)
        )

    class FakeTrainer:
        world_size = 1
        should_stop = False

    metrics = strategy.on_train_epoch_end(0, FakeTrainer(), None)
    # by hand, thresholds 0.6, 0.307, 0.259 for ranks 1-3: cluster 0 keeps 0.01, 0.2 (not 0.9); cluster 1
    # keeps 0.02, 0.03 (not 0.3 at rank 3); cluster 2 keeps 0.04, 0.05, 0.25 (not 0.7)
    plan = strategy.plan_epoch(1)
    assert sorted(torch.cat(plan).tolist()) == [0, 2, 3, 5, 7, 8, 9]
    assert [len(b) for b in plan] == [3, 3, 1] and strategy.num_batches() == 3
    assert metrics["selected_frac_next"] == 0.7 and strategy.pace.lam == pytest.approx(0.11)
    assert torch.cat(plan).tolist() != [0, 2, 3, 5, 7, 8, 9] or torch.cat(strategy._make_plan(2)).tolist() != [
        0,
        2,
        3,
        5,
        7,
        8,
        9,
    ]


def test_max_updates_cuts_the_last_epoch_and_random_draws_the_same_count():
    strategy = RandomSubset(count="paced", max_updates=5)
    strategy.bind(num_samples=12, batch_size=4, seed=0)
    assert strategy.num_batches() == 3
    strategy.updates = 3
    strategy._plan = None
    assert len(strategy.plan_epoch(0)) == 2
    strategy.clusters = Clusters(torch.arange(12) % 2, torch.zeros(2, 2), torch.tensor([0, 1]))
    strategy.stored = torch.linspace(0.0, 1.1, 12)
    rule = select_by_pace(strategy.stored, strategy.clusters.assignment, strategy.pace.lam, strategy.pace.gamma)
    drawn = strategy.select(strategy.clusters, strategy.pace.lam, strategy.pace.gamma)
    assert drawn.sum() == rule.sum() and not torch.equal(drawn, rule)


class _Trainer:
    world_size = 1
    should_stop = False


@pytest.mark.parametrize("variant", ["paper", "authors_code"])
def test_random_trains_every_sample_reshuffled_each_epoch(variant):
    # Table 1's Random is the authors' (`DataLoader(shuffle=True)` over the whole set): every sample, every epoch,
    # in a new order, whatever the losses and under either variant (the code's ascending order is its LEAP/SPLD's).
    strategy = RandomSubset(variant=variant)
    assert strategy.count == "all" and strategy.order == "shuffle"
    strategy.bind(num_samples=10, batch_size=4, seed=3)
    strategy.clusters = Clusters(torch.arange(10) % 2, torch.zeros(2, 2), torch.tensor([0, 1]))
    orders = []
    for epoch in range(3):
        plan = strategy.plan_epoch(epoch)
        assert [len(b) for b in plan] == [4, 4, 2]
        for batch in plan:
            strategy.reduce_loss(torch.full((len(batch),), 5.0), batch, len(batch))  # far above any threshold
        metrics = strategy.on_train_epoch_end(epoch, _Trainer(), None)
        assert metrics["selected_frac_next"] == 1.0
        orders.append(torch.cat(plan).tolist())
    assert all(sorted(o) == list(range(10)) for o in orders) and len({tuple(o) for o in orders}) == 3
    paced = RandomSubset(count="paced", variant=variant)
    assert paced.order == ("ascending" if variant == "authors_code" else "shuffle")
    with pytest.raises(ValueError, match=r"strategy.count='some' is not accepted; use one of \['all', 'paced'\]"):
        RandomSubset(count="some")


def test_pace_update_batch_selects_with_the_last_batch_pace():
    # Algorithm 2 with pace_update=batch: in an epoch of B = 3 batches, batch b trains, selects with
    # lambda0 * beta1^(b-1), gamma0 * beta2^(b-1), then steps the pace; the selection after batch 3 is the
    # next epoch's set.
    losses = torch.tensor([0.25, 0.55, 0.90, 0.05, 0.35, 0.62])
    assignment = torch.tensor(
        [0, 0, 0, 1, 1, 1]
    )  # cluster 0: samples 0-2, cluster 1: samples 3-5 (ranks follow the losses)
    # thresholds lambda + gamma / (sqrt(i) + sqrt(i-1)): rank 1 lambda + gamma, rank 2 lambda + 0.41421 gamma,
    # rank 3 lambda + 0.31784 gamma. By hand, with lambda0 = 0.1, gamma0 = 0.2, beta1 = beta2 = 2:
    by_hand = [
        # batch 1: (0.1, 0.2): ranks 1-3 under 0.3, 0.18284, 0.16357: only each cluster's easiest (0.25, 0.05)
        ((0.1, 0.2), [True, False, False, True, False, False]),
        # batch 2: (0.2, 0.4): under 0.6, 0.36569, 0.32713: + 0.35 (rank 2 of cluster 1); 0.55 > 0.36569, 0.62 > 0.32713
        ((0.2, 0.4), [True, False, False, True, True, False]),
        # batch 3: (0.4, 0.8): under 1.2, 0.73137, 0.65427: + 0.55 and 0.62 (rank 3, < 0.65427); 0.9 > 0.65427 stays out
        ((0.4, 0.8), [True, True, False, True, True, True]),
    ]
    for (lam, gamma), expected in by_hand:
        assert select_by_pace(losses, assignment, lam, gamma).tolist() == expected
    strategy = Spld(lambda0=0.1, gamma0=0.2, beta1=2.0, beta2=2.0, pace_update="batch")
    strategy.bind(num_samples=6, batch_size=2, seed=0)
    strategy.clusters = Clusters(assignment, torch.zeros(2, 2), torch.tensor([0, 1]))
    plan = strategy.plan_epoch(0)
    assert len(plan) == 3
    for batch in plan:
        strategy.reduce_loss(losses[batch], batch, len(batch))
    metrics = strategy.on_train_epoch_end(0, _Trainer(), None)
    assert strategy.selected.tolist() == [0, 1, 3, 4, 5]  # batch 3's selection, not batch 1's [0, 3]
    assert (metrics["pace_lambda"], metrics["pace_gamma"]) == pytest.approx((0.4, 0.8))
    assert (strategy.pace.lam, strategy.pace.gamma) == pytest.approx((0.8, 1.6))  # beta^B after the epoch
    # pace_update=epoch (the default, the code's): one selection with the epoch's own lambda0, gamma0, then one step.
    per_epoch = Spld(lambda0=0.1, gamma0=0.2, beta1=2.0, beta2=2.0)
    per_epoch.bind(num_samples=6, batch_size=2, seed=0)
    per_epoch.clusters = strategy.clusters
    for batch in per_epoch.plan_epoch(0):
        per_epoch.reduce_loss(losses[batch], batch, len(batch))
    per_epoch.on_train_epoch_end(0, _Trainer(), None)
    assert per_epoch.selected.tolist() == [0, 3] and (per_epoch.pace.lam, per_epoch.pace.gamma) == pytest.approx(
        (0.2, 0.4)
    )
    assert Pace(0.1, 0.2, 2.0, 2.0, update="batch").for_selection(1) == (0.1, 0.2)  # one batch: the epoch's own pace


def test_current_losses_re_measure_every_sample_with_the_current_student():
    # losses="current": at the epoch end every sample's loss is the current student's cross-entropy in
    # evaluation mode (dropout off), left-out samples included; "trained" keeps the last trained loss.
    torch.manual_seed(0)
    x, y = torch.randn(10, 4), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])

    class Data:
        splits = {"train": type("Split", (), {"labels": y})()}

        @staticmethod
        def gather(split, indices):
            return x[indices], y[indices]

    class FakeTrainer:
        world_size = 1
        should_stop = False
        datamodule = Data()

    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Dropout(0.9))
    net.train()
    expected = torch.nn.functional.cross_entropy(net[0](x), y, reduction="none")
    clusters = Clusters(y.clone(), torch.zeros(3, 2), torch.tensor([0, 1, 2]))
    runs = {}
    for reading in ("trained", "current"):
        strategy = Spld(lambda0=0.5, gamma0=0.5, losses=reading)
        strategy.bind(num_samples=10, batch_size=5, seed=1)
        strategy.clusters = clusters
        batch = torch.tensor([0, 1, 2, 3, 4])  # only half of the samples were trained this epoch
        strategy.reduce_loss(torch.full((5,), 0.01), batch, 5)
        started = time.perf_counter()
        runs[reading] = (strategy, strategy.on_train_epoch_end(0, FakeTrainer(), net), time.perf_counter() - started)
    trained, trained_metrics, _ = runs["trained"]
    assert trained.stored[:5].eq(0.01).all() and trained.stored[5:].isnan().all()
    assert trained.selected.tolist() == [0, 1, 2, 3, 4]  # NaN (never trained) is never easy
    current, metrics, epoch_end_s = runs["current"]
    torch.testing.assert_close(current.stored, expected.detach(), rtol=0, atol=1e-6)
    assert net.training
    # Only a re-measuring pass is timed, in seconds within the epoch end that ran it.
    assert "loss_pass_time_s" not in trained_metrics and 0.0 < metrics["loss_pass_time_s"] <= epoch_end_s
    by_rule = select_by_pace(expected.detach(), y, 0.5, 0.5)
    assert torch.equal(torch.nonzero(by_rule).squeeze(1), current.selected) and 0 < len(current.selected) < 10
    with pytest.raises(
        ValueError, match=r"strategy.losses='fresh' is not accepted; use one of \['trained', 'current'\]"
    ):
        Spld(losses="fresh")


# ---------------------------------------------------------------- experiments
LEAP_ROWS = {  # row: (student, embedding, batch, lr, augment crop, max_updates)
    "mnist": ("leap_lenet", "magnet_lenet", 64, 0.001, 0, 23400),
    "fashion_mnist": ("preact_resnet18", "magnet_lenet", 64, 0.001, 4, 23400),
    "cifar10": ("resnet18", "vgg16", 128, 0.1, 4, 78000),
    "cifar100": ("wrn28_10", "vgg16", 128, 0.1, 0, 78000),
    "svhn": ("wrn16_8", "vgg16", 128, 0.01, 0, None),
}


TRAIN_SIZES = {"mnist": 60000, "fashion_mnist": 60000, "cifar10": 50000, "cifar100": 50000, "svhn": 73257 + 531131}


@pytest.mark.parametrize("row", sorted(LEAP_ROWS))
def test_leap_experiments_pin_the_reference_settings(row, tmp_path):
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from tests.conftest import compose_train
    from trainfix.training.config_rules import check_config

    student, embedding, batch, lr, crop, updates = LEAP_ROWS[row]
    # A composition costs ~1 s here: every row composes LEAP once; SPLD, Random and the quick profile read the same
    # `leap:` keys through row-independent files (conf/strategy/tuning/leap/, conf/strategy/profile/quick/), so they
    # are composed for one row.
    others = (("full", "spld"), ("full", "random_subset"), ("quick", "leap")) if row == "mnist" else ()
    # A multirun composes its sweep config without the swept `strategy=...`: the experiment's default strategy must be
    # LEAP, so that `-m strategy=leap,spld,random_subset strategy.losses=current` composes (on `baseline` it failed).
    sweep = compose_train([f"experiment=leap/table_1/{row}", "strategy.losses=current", "seed=2"], tmp_path)
    assert (
        sweep.strategy.losses == "current"
        and OmegaConf.to_container(sweep, resolve=True)["run_name"] == f"{row}_leap_paper_seed2"
    )
    for profile, strategy in (("full", "leap"), *others):
        cfg = compose_train(
            [f"experiment=leap/table_1/{row}", f"profile={profile}", f"strategy={strategy}", "seed=2"], tmp_path
        )
        check_config(cfg)
        resolved = OmegaConf.to_container(cfg, resolve=True)
        assert resolved["run_name"] == f"{row}_{strategy}_paper_seed2"
        assert resolved["model"]["name"] == student and resolved["optimizer"]["lr"] == lr
        assert resolved["strategy"]["max_updates"] == updates and resolved["strategy"]["clusters_per_class"] == 8
        assert resolved["strategy"]["lambda0"] == (0.1 if profile == "full" else 2.0)
        if profile == "full":
            assert resolved["data"]["batch_size"] == batch and resolved["data"]["augment"]["crop_padding"] == crop
            assert resolved["data"].get("train_extra", False) == (row == "svhn")  # the paper's SVHN: train + extra
        built = instantiate(cfg.strategy)
        assert built.pace.lam == resolved["strategy"]["lambda0"]
        if (profile, strategy) != ("full", "leap"):
            continue
        assert resolved["strategy"]["network"] == embedding and resolved["strategy"]["mode"] == "concurrent"
        # The embedding's budget (the code's passes, or SVHN's 8,000 steps) is spread over the student's whole run.
        n = TRAIN_SIZES[row]
        run_updates = updates or resolved["trainer"]["max_epochs"] * math.ceil(n / batch)
        embedding_steps = round(built.embedding.epochs * math.ceil(n / 64))
        assert embedding_steps == (
            8000 if row == "svhn" else (15 if embedding == "magnet_lenet" else 30) * math.ceil(n / 64)
        )
        assert abs(built.steps_per_update * run_updates / embedding_steps - 1) < 0.001
        cfg.variant = "authors_code"  # a plain key: as `variant=authors_code` on the command line
        code = instantiate(cfg.strategy)
        assert (code.selection, code.order, code.mode, code.embedding.sigma_power) == (
            "code",
            "ascending",
            "pretrained",
            4,
        )
        assert code.pace.k == (10 if row == "cifar100" else 500)


def test_embedding_dropout_draws_from_its_own_generator():
    # LEAP's VGG-16 embedding has dropout: its masks must not come from (or move) the global RNG the student uses,
    # so the student's stream does not depend on when or on which thread the embedding steps.
    from trainfix.strategies.leap.embedding import GeneratorDropout, _own_dropout

    net = torch.nn.Sequential(torch.nn.Linear(4, 4000), torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Dropout(0.25)))
    _own_dropout(net, torch.Generator().manual_seed(7))
    assert isinstance(net[1][1], GeneratorDropout) and net[1][1].p == 0.25
    x = torch.ones(3, 4000)
    before = torch.get_rng_state()
    out = net[1][1](x)
    assert torch.equal(torch.get_rng_state(), before)
    kept = out != 0
    assert torch.allclose(out[kept], torch.full_like(out[kept], 1 / 0.75))  # inverted dropout: scaled by 1 / (1 - p)
    assert abs(kept.float().mean().item() - 0.75) < 0.01  # 12,000 draws: the kept share is 0.75 +- 0.004 (1 sd)
    again = GeneratorDropout(0.25, torch.Generator().manual_seed(7))(x)
    assert torch.equal(again, out)
    net.eval()
    assert torch.equal(net[1][1](x), x)


def test_leap_svhn_trains_on_train_plus_extra_and_reports_data_missing(tmp_path):
    # SVHN is absent here: the experiment's run must fail with the data module's own error naming both of its
    # training files, and LEAP's Table 1 must show the cell as "data missing".
    from tests.conftest import compose_train
    from trainfix.data.errors import DatasetMissingError
    from trainfix.papers.leap import table_1, table_1_values
    from trainfix.results.collect import collect_runs
    from trainfix.train import train

    data = tmp_path / "data"
    data.mkdir()
    cfg = compose_train(
        # one job of a sweep (Table 1 is a sweep): a single run refused for its data would leave no folder
        ["experiment=leap/table_1/svhn", "strategy=leap", "seed=0", f"paths.data_dir={data}", "hydra.mode=MULTIRUN"],
        tmp_path / "out",
    )
    assert cfg.data.dataset == "svhn" and cfg.data.train_extra is True
    with pytest.raises(DatasetMissingError) as missing:
        train(cfg)
    assert str(data / "train_32x32.mat") in str(missing.value) and str(data / "extra_32x32.mat") in str(missing.value)
    values = table_1_values(collect_runs(tmp_path / "out")).set_index(["method", "row"])
    assert values.loc[("LEAP", "svhn"), "status"] == "data missing"
    assert table_1(values.reset_index()).loc["LEAP", ("SVHN*", "ours (final)")] == "data missing"
