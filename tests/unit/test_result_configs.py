"""A table cell averages the seeds of one configuration (`results.configs.require_same_configs`): where a run wrote
its files and profile=quick's unread sizes do not tell configurations apart; a callback's setting does."""

from __future__ import annotations

import pytest

from trainfix.results.configs import require_same_configs


def run_config(seed: int, folder: str, patience: int = 20, quick_batch: int = 250) -> dict:
    return {
        "seed": seed,
        "optimizer": {"lr": 0.001},
        "quick": {"batch_size": quick_batch},
        "paths": {"output_dir": folder},
        "callbacks": {
            "model_checkpoint": {"dirpath": f"{folder}/checkpoints", "mode": "max"},
            "early_stopping": {"patience": patience},
        },
    }


def test_seeds_written_to_other_folders_are_one_configuration():
    require_same_configs({"s0": run_config(0, "/a/s0"), "s1": run_config(1, "/b/s1", quick_batch=1000)}, "cell", "/a")


def test_seeds_that_stop_on_another_patience_are_not():
    with pytest.raises(ValueError, match=r"differ in 1 key\(s\) .*callbacks\.early_stopping\.patience: 20 \(s0\) vs 5"):
        require_same_configs({"s0": run_config(0, "/a/s0"), "s1": run_config(1, "/a/s1", patience=5)}, "cell", "/a")
