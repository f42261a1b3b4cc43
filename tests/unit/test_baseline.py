"""DeepEutaxy's BL: the paper fixes its batch order "after a random initialization" (a seeded
shuffle, kept every epoch, differing by seed); the authors' BL.py uses the dataset order."""

import pytest
import torch
from hydra.utils import instantiate

from tests.conftest import compose_train
from trainfix.strategies import DeepEutaxy


def bl(tmp_path, variant, seed, n=1000, batch=100):
    cfg = compose_train(["strategy=baseline", f"variant={variant}"], tmp_path)
    strategy = instantiate(cfg.strategy)
    strategy.bind(n, batch, seed)
    return strategy


def test_paper_bl_is_a_seeded_shuffle_fixed_across_epochs(tmp_path):
    a, b = bl(tmp_path, "paper", seed=0), bl(tmp_path, "paper", seed=1)
    epochs = [torch.cat(a.plan_epoch(e)) for e in (0, 1, 57)]
    assert all(torch.equal(epochs[0], other) for other in epochs[1:])  # the same order every epoch
    assert sorted(epochs[0].tolist()) == list(range(1000))  # a permutation: every sample once
    assert not torch.equal(epochs[0], torch.arange(1000))  # not the dataset order
    assert not torch.equal(epochs[0], torch.cat(b.plan_epoch(0)))  # differs by seed
    assert torch.equal(epochs[0], torch.cat(bl(tmp_path, "paper", seed=0).plan_epoch(3)))  # reproducible
    de = DeepEutaxy()
    de.bind(1000, 100, 0)
    assert torch.equal(epochs[0], torch.cat(de.plan_epoch(0)))  # BL and DE start from the same batches


@pytest.mark.parametrize("seed", [0, 1])
def test_authors_code_bl_is_dataset_order(tmp_path, seed):
    strategy = bl(tmp_path, "authors_code", seed)
    assert torch.equal(torch.cat(strategy.plan_epoch(4)), torch.arange(1000))
