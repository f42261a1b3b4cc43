"""The datamodule in tiny real runs (LEAP's LeNet on real MNIST, in-process): evaluation sets do not move a
dropout model's random stream. (Subsets, splits and gather: tests/unit/test_datamodule.py.)"""

import pytest


@pytest.mark.slow  # three runs
def test_evaluation_sets_do_not_move_a_dropout_models_random_stream(tiny_cfg, tmp_path):
    """LEAP's LeNet has dropout (3 layers), drawn from the global torch stream. Evaluating the training set as well, or
    validating every second epoch instead of every epoch, must not change its training: every
    DataLoader draws its iterator's base seed from its own generator, not from that stream."""
    import pandas as pd

    from trainfix.train import train

    common = (
        "model=leap_lenet",
        "trainer.max_epochs=3",
        "data.train_subset=400",
        "data.test_subset=200",
        "data.batch_size=200",
    )
    variants = {
        "test_only": (),
        "with_train_eval": ("data.eval_train=true",),
        "sparse_validation": ("trainer.check_val_every_n_epoch=2",),
    }
    records = {}
    for name, extra in variants.items():
        train(tiny_cfg(*common, *extra, run_dir=tmp_path / name))
        records[name] = pd.read_csv(tmp_path / name / "metrics.csv")
    base = records["test_only"]
    assert base["train_loss"].nunique() == 3  # it trained
    for name in ("with_train_eval", "sparse_validation"):
        pd.testing.assert_series_equal(records[name]["train_loss"], base["train_loss"], check_exact=True, obj=name)
        pd.testing.assert_series_equal(
            records[name]["grad_norm_mean"], base["grad_norm_mean"], check_exact=True, obj=name
        )
    pd.testing.assert_series_equal(records["with_train_eval"]["test_acc"], base["test_acc"], check_exact=True)
    assert records["sparse_validation"]["test_acc"].iloc[1] == base["test_acc"].iloc[1]  # epoch 2 validated in both
