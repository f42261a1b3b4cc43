"""The datamodule on real MNIST: random subsets kept in order, validation split, device gather."""

import torch

from trainfix.data.datamodule import ImageDataModule
from trainfix.data.loading import load_split
from trainfix.strategies import Baseline


def test_subset_is_a_seeded_random_sample_in_dataset_order(data_dir):
    full = load_split("mnist", data_dir, train=True)
    picks = []
    for run_seed in (0, 7):
        dm = ImageDataModule("mnist", str(data_dir), train_subset=1000, test_subset=300)
        dm.attach(Baseline(), seed=run_seed)
        dm.load()
        picks.append(dm.splits["train"])
    a, b = picks
    assert len(a.labels) == 1000 and len(dm.splits["test"].labels) == 300
    assert torch.equal(a.images, b.images), "the subset does not depend on the run seed"
    assert torch.bincount(a.labels, minlength=10).min() > 50, "a random draw holds every class"
    # kept in dataset order: each subset image is found in the full set at increasing positions
    flat = full.images.reshape(len(full.labels), -1)
    positions = [int((flat == img.reshape(-1)).all(dim=1).nonzero()[0]) for img in a.images[:20]]
    assert positions == sorted(positions)
    other = ImageDataModule("mnist", str(data_dir), train_subset=1000, subset_seed=1)
    other.load()
    assert not torch.equal(other.splits["train"].images, a.images)


def test_validation_split_is_carved_from_train(data_dir):
    dm = ImageDataModule("mnist", str(data_dir), train_subset=1000, val_fraction=0.1)
    strategy = Baseline()
    dm.attach(strategy, seed=0)
    dm.load()
    assert len(dm.splits["val"].labels) == 100 and len(dm.splits["train"].labels) == 900
    assert strategy.num_samples == 900
    assert dm.eval_names == ("test", "val")


def test_gather_scales_to_unit_range_or_normalizes(data_dir):
    for normalize in (False, True):
        dm = ImageDataModule("mnist", str(data_dir), train_subset=500, normalize=normalize)
        dm.load()
        dm.setup("fit")
        x, y = dm.gather("train", torch.arange(500))
        raw = dm.splits["train"].images[:500].float() / 255
        if normalize:
            torch.testing.assert_close(x, (raw - 0.1307) / 0.3081, atol=1e-3, rtol=1e-3)
        else:
            assert torch.equal(x, raw) and x.min() == 0 and x.max() == 1
        assert torch.equal(y, dm.splits["train"].labels[:500])
