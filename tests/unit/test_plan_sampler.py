"""The batch plan sampler: exact global batches, rank slices that partition them, lazy plans."""

import torch

from trainfix.data.plan_sampler import IndexDataset, PlanBatchSampler, fixed_batches, rank_slice
from trainfix.strategies import Baseline, Shuffle


def test_fixed_batches_cover_in_order_with_short_last_batch():
    batches = fixed_batches(10, 4)
    assert [b.tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_rank_slices_partition_each_global_batch():
    batch = torch.arange(10, 17)  # 7 samples over 3 ranks -> 3, 2, 2
    parts = [rank_slice(batch, r, 3) for r in range(3)]
    assert [p.tolist() for p in parts] == [[10, 11, 12], [13, 14], [15, 16]]
    assert torch.equal(torch.cat(parts), batch)


def test_sampler_yields_plan_slices_with_global_size():
    plan = [torch.tensor([5, 3, 1, 0]), torch.tensor([2, 4])]
    seen_epochs = []

    def plan_for_epoch(epoch):
        seen_epochs.append(epoch)
        return plan

    sampler = PlanBatchSampler(plan_for_epoch, lambda: 2, current_epoch=lambda: 7, rank=1, world_size=2)
    batches = list(sampler)
    assert seen_epochs == [7]
    assert [b.indices.tolist() for b in batches] == [[1, 0], [4]]
    assert [b.global_size for b in batches] == [4, 2]
    assert IndexDataset(6).__getitems__(batches[0])["global_size"] == 4


def test_baseline_keeps_dataset_order_every_epoch():
    strategy = Baseline(order="dataset")
    strategy.bind(num_samples=7, batch_size=3, seed=0)
    expected = [[0, 1, 2], [3, 4, 5], [6]]
    assert [b.tolist() for b in strategy.plan_epoch(0)] == expected
    assert [b.tolist() for b in strategy.plan_epoch(5)] == expected


def test_baseline_seeded_shuffle_is_one_fixed_permutation():
    a, b = Baseline(order="seeded_shuffle"), Baseline(order="seeded_shuffle")
    a.bind(100, 10, seed=3)
    b.bind(100, 10, seed=3)
    flat = torch.cat(a.plan_epoch(0))
    assert sorted(flat.tolist()) == list(range(100))
    assert not torch.equal(flat, torch.arange(100))
    assert torch.equal(flat, torch.cat(a.plan_epoch(9)))
    assert torch.equal(flat, torch.cat(b.plan_epoch(0)))


def test_shuffle_permutes_each_epoch_reproducibly():
    s = Shuffle()
    s.bind(50, 8, seed=1)
    e0, e1 = torch.cat(s.plan_epoch(0)), torch.cat(s.plan_epoch(1))
    assert sorted(e0.tolist()) == list(range(50)) == sorted(e1.tolist())
    assert not torch.equal(e0, e1)
    assert torch.equal(e1, torch.cat(s.plan_epoch(1)))
    assert [len(b) for b in s.plan_epoch(0)] == [8] * 6 + [2]


def test_bad_order_names_accepted_values():
    import pytest

    with pytest.raises(ValueError, match=r"strategy.order='random'.*'dataset', 'seeded_shuffle'"):
        Baseline(order="random")
