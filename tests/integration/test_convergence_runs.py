"""Eq. 12 convergence in tiny real runs (LeNet-5 on real MNIST, in-process): the callback records both
readings and can stop the run. (First converged epoch on crafted histories: tests/unit/test_convergence.py.)"""

import json

import pandas as pd

from trainfix.training.callbacks.convergence import first_converged_epoch


def test_callback_records_both_readings_and_can_stop(tiny_cfg, tmp_path):
    from trainfix.train import train

    train(
        tiny_cfg("trainer.max_epochs=4", "convergence.epsilon=1.0e6", "convergence.stop=true", run_dir=tmp_path / "run")
    )
    record = json.loads((tmp_path / "run" / "convergence.json").read_text())
    assert record["first_epoch"] == {"last": 0, "mean": 0} and record["tables_use"] == "last"
    assert len(pd.read_csv(tmp_path / "run" / "metrics.csv")) == 1  # stopped at the converged epoch

    train(tiny_cfg("trainer.max_epochs=2", run_dir=tmp_path / "run2"))
    metrics = pd.read_csv(tmp_path / "run2" / "metrics.csv")
    record = json.loads((tmp_path / "run2" / "convergence.json").read_text())
    expected = {name: first_converged_epoch(metrics[f"grad_norm_{name}"].tolist(), 0.01) for name in ("last", "mean")}
    assert record["first_epoch"] == expected
