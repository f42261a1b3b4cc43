"""The debug configs and the Optuna search config, composed (no run): fresh folders under debug/ without W&B,
the optimized metric must be recorded. (Tiny runs: tests/integration/test_search.py; the sweep through the CLI:
tests/system/test_search_sweep.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig

from trainfix.training.compose import CONF_DIR, compose_config
from trainfix.training.config_rules import ConfigError, check_config


def test_debug_configs_write_fresh_folders_under_debug_without_wandb(tmp_path):
    GlobalHydra.instance().clear()
    for name in ("fdr", "overfit", "limit"):
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
            cfg = compose(
                "train.yaml",
                overrides=[f"debug={name}", "logger=wandb", f"paths.runs_dir={tmp_path}"],
                return_hydra_config=True,
            )
        HydraConfig.instance().set_config(cfg)
        assert cfg.task_name == "debug" and cfg.logger is None, name
        run_dir = Path(cfg.hydra.run.dir)
        assert run_dir.parent.parent == tmp_path / "debug"
        assert re.fullmatch(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d", run_dir.parent.name)
        GlobalHydra.instance().clear()


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (
            ["optimized_metric=val_acc"],
            r"optimized_metric='val_acc': the run has no validation set \(data.val_fraction=0.0\)",
        ),
        (
            ["optimized_metric=train_eval_loss"],
            r"optimized_metric='train_eval_loss': the run does not evaluate the training set",
        ),
    ],
)
def test_optimized_metric_must_be_recorded(tmp_path, overrides, expected):
    with pytest.raises(ConfigError, match=expected):
        check_config(compose_config(overrides, tmp_path))


def test_optuna_search_config_is_valid(tmp_path):
    cfg = compose_config(["hparams_search=lenet5_mnist_optuna"], tmp_path)
    check_config(cfg)
    assert cfg.optimized_metric == "val_acc" and cfg.data.val_fraction == 0.1
