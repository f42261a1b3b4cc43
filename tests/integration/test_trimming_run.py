"""strategy=trimming through the real entry point, over the shuffle and the baseline plans: the
recorded r, kept fraction and kept/dropped losses, and the evaluation's plain mean."""

import pandas as pd
import pytest

from trainfix.train import train


@pytest.mark.parametrize("plan", ["shuffle", "baseline"])
def test_trimming_run_records_r_and_kept_losses(tiny_cfg, tmp_path, plan):
    """2,000 samples in batches of 300 (the last one 200), p 1.0 -> 0.2 over 2 epochs: r = 300 then 60
    (40 in the last batch), so the second epoch keeps (6 * 60 + 40) / 2000 = 0.2 of the samples."""
    train(
        tiny_cfg(
            "strategy=trimming",
            f"strategy.plan={plan}",
            "data.batch_size=300",
            "optimizer=adam",
            "optimizer.lr=0.001",
            run_dir=tmp_path / "run",
        )
    )
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert metrics["trim_r"].tolist() == [300, 60]
    assert metrics["trim_p"].tolist() == pytest.approx([1.0, 0.2])
    assert metrics["trim_kept_frac"].tolist() == pytest.approx([1.0, 0.2])
    assert metrics["trim_dropped_loss"].isna().tolist() == [True, False]
    # Epoch 0 keeps everything: the kept mean is the training loss (float64 vs float32 sums).
    assert metrics["trim_kept_loss"][0] == pytest.approx(metrics["train_loss"][0], rel=1e-5)
    # Epoch 1: in every batch the kept fifth is the hardest; kept and dropped average back to the epoch's loss.
    kept, dropped = metrics["trim_kept_loss"][1], metrics["trim_dropped_loss"][1]
    assert kept > dropped
    assert 0.2 * kept + 0.8 * dropped == pytest.approx(metrics["train_loss"][1], rel=1e-5)
    assert metrics["samples_seen"].tolist() == [2000, 4000]
    assert metrics["test_acc"].iloc[-1] > 0.5  # evaluation is untouched: a trimmed LeNet-5 still learns MNIST


def test_first_epoch_with_p_one_is_the_shuffle_loop(tiny_cfg, tmp_path):
    """At p = 1 every weight is M/M = 1: trimming's first epoch is shuffle's, bit for bit (same seeded plan)."""
    common = ("data.batch_size=300", "optimizer=adam", "optimizer.lr=0.001", "trainer.max_epochs=2")
    train(tiny_cfg("strategy=trimming", *common, run_dir=tmp_path / "trim"))
    train(tiny_cfg("strategy=shuffle", *common, run_dir=tmp_path / "shuffle"))
    trim, shuffle = (pd.read_csv(tmp_path / name / "metrics.csv") for name in ("trim", "shuffle"))
    columns = ["train_loss", "train_acc", "test_loss", "test_acc", "grad_norm_last"]
    assert trim.loc[0, columns].tolist() == shuffle.loc[0, columns].tolist()
    assert trim.loc[1, "train_loss"] != shuffle.loc[1, "train_loss"]  # epoch 1 trains on the hardest fifth only
