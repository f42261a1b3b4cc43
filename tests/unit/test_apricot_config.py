"""Apricot's experiments (conf/experiment/apricot/) compose, pass the rules and pin the paper's settings."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from tests.conftest import compose_train
from trainfix.training.compose import CONF_DIR
from trainfix.training.config_rules import check_config

# row: (input epochs, batch size, reduced epochs, optimizer) as seeds/apricot.txt §IV-A (optimizers: docs/deviations.md)
PAPER = {
    "cnn1": (20, 256, 30, "torch.optim.Adam"),
    "cnn2": (125, 64, 60, "torch.optim.RMSprop"),
    "cnn3": (50, 128, 60, "torch.optim.Adam"),
    "resnet20": (120, 128, 60, "torch.optim.SGD"),
    "resnet32": (120, 128, 60, "torch.optim.SGD"),
}


@pytest.mark.parametrize("row", sorted(PAPER))
def test_apricot_experiments_pin_the_paper_settings(row, tmp_path):
    epochs, batch, reduced_epochs, optimizer = PAPER[row]
    for role, experiment in (("input", f"apricot/table_v/{row}"), ("reduced", f"apricot/table_v/{row}_reduced")):
        cfg = compose_train(
            [f"experiment={experiment}", "seed=2", "data.train_window.start=38000"]
            if role == "reduced"
            else [f"experiment={experiment}", "seed=2"],
            tmp_path,
        )
        check_config(cfg)
        r = OmegaConf.to_container(cfg, resolve=True)
        assert r["apricot_role"] == role and r["experiment_row"] == row
        assert r["trainer"]["max_epochs"] == (epochs if role == "input" else reduced_epochs)
        assert r["data"]["batch_size"] == batch and r["optimizer"]["_target_"] == optimizer
        assert "model_checkpoint" in r["callbacks"] and r["callbacks"]["model_checkpoint"]["mode"] == "max"
        if role == "reduced":
            assert r["data"]["train_window"] == {"start": 38000, "size": 10000, "order": "auto"}
            assert r["run_name"] == f"{row}_reduced_w38000_seed2"
        else:
            assert r["data"]["train_window"]["start"] is None and r["run_name"] == f"{row}_input_seed2"
        quick = OmegaConf.to_container(
            compose_train([f"experiment={experiment}", "profile=quick"], tmp_path), resolve=True
        )
        assert quick["data"]["train_subset"] == 2000 and quick["task_name"] == "apricot_quick"
        if role == "reduced":
            assert quick["data"]["train_window"]["size"] == 500  # 5 windows at stride 375 fit in 2,000 (Makefile)


def test_adaptation_config_defaults_are_the_papers():
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("apricot.yaml")
    assert (cfg.r, cfg.batch_size, cfg.retrain_epochs, cfg.eval_on) == (0.001, 20, 20, "test")
    assert (cfg.apricot_strategy, cfg.direction, cfg.parameters_only) == (1, "toward", False)
