"""The monitor's options and settings without a run: every option composes and builds, bad values are named,
AutoTrainer's solution lists, the oscillating-loss study's pinned settings. (On real runs:
tests/integration/test_monitor_run.py.)"""

from __future__ import annotations

import pytest
from hydra.utils import instantiate

from trainfix.monitor.callback import TrainingMonitor
from trainfix.monitor.repair import attempts_for
from trainfix.training.compose import compose_config


@pytest.mark.parametrize("option", ["none", "autotrainer", "autotrainer_faithful", "thesis"])
def test_every_monitor_option_composes_and_builds(option, tmp_path):
    cfg = compose_config([f"monitor={option}"], tmp_path)
    if option == "none":
        assert "_target_" not in cfg.monitor
        return
    monitor = instantiate(cfg.monitor, run_dir=str(tmp_path), planned_epochs=50, _convert_="all")
    assert isinstance(monitor, TrainingMonitor)
    expected = {"autotrainer": [1, 4, 7], "autotrainer_faithful": [1, 4, 7], "thesis": [11, 12, 13]}[option]
    assert monitor.schedule.check_epochs(50)[:3] == expected


def test_bad_monitor_values_are_named(tmp_path):
    with pytest.raises(ValueError, match="monitor.on_detection='pause'"):
        TrainingMonitor(tmp_path, 10, on_detection="pause")
    with pytest.raises(ValueError, match="monitor.series='loss'"):
        TrainingMonitor(tmp_path, 10, series="loss")


def test_solution_lists_follow_autotrainer():
    # AutoTrainer's tries are 0-based (j = 0..k-1): lr_3 on SGD is 0.01, 0.001, 1e-4; not_converge x10^j.
    config = {
        "optimizer": {"_target_": "torch.optim.SGD", "lr": 0.5},
        "data": {"batch_size": 16},
        "model": {"name": "mlp"},
    }
    tries = attempts_for("oscillating_loss", config, max_tries=10)
    assert [t.overrides for t in tries[1:4]] == [["optimizer.lr=0.01"], ["optimizer.lr=0.001"], ["optimizer.lr=0.0001"]]
    assert [t.overrides for t in tries[5:9]] == [[f"data.batch_size={b}"] for b in (32, 64, 128, 256)]
    assert [t.overrides for t in attempts_for("not_converge", config)][3:6] == [
        ["optimizer.lr=0.01"],
        ["optimizer.lr=0.1"],
        ["optimizer.lr=1"],
    ]


@pytest.mark.parametrize("profile", ["full", "quick"])
def test_ol_study_experiment_pins_the_thesis_settings(profile, tmp_path):
    from omegaconf import OmegaConf

    from trainfix.training.config_rules import check_config

    cfg = compose_config(["experiment=monitor/oscillating_loss/mlp_mnist", f"profile={profile}", "seed=7"], tmp_path)
    check_config(cfg)
    r = OmegaConf.to_container(cfg, resolve=True)
    assert (r["model"]["name"], r["model"]["params"]) == (
        "mlp",
        {"hidden_layers": 20, "width": 128, "activation": "relu"},
    )
    assert r["optimizer"]["_target_"] == "torch.optim.Adam" and (r["optimizer"]["lr"], r["optimizer"]["eps"]) == (
        0.001,
        1e-7,
    )
    assert r["scheduler"]["scheduler"] is None  # constant learning rate
    assert r["data"]["batch_size"] == (32 if profile == "full" else r["quick"]["batch_size"])
    assert r["trainer"]["max_epochs"] == (50 if profile == "full" else 5) and r["run_name"].endswith("_seed7")
    assert r["data"]["train_subset"] is None if profile == "full" else r["data"]["train_subset"] == 2000


def test_faithful_option_has_autotrainer_gates_and_batch_size_gradient(tmp_path):
    """monitor=autotrainer_faithful turns on every gate AutoTrainer's code applies (warm-up, sticky flags, verdicts at
    layer-output checks); every option takes the check gradient on the training batch size; the thesis' dynamic
    schedule puts its late checks where AutoTrainer's 0-based rule does (after epochs 21, 31, 41 of 50)."""
    built = {}
    for option in ("autotrainer", "autotrainer_faithful", "thesis"):
        cfg = compose_config([f"monitor={option}"], tmp_path)
        built[option] = instantiate(cfg.monitor, run_dir=str(tmp_path), planned_epochs=50, _convert_="all")
        assert built[option].gradient_batch is None  # None: datamodule.batch_size at the check
    faithful = built["autotrainer_faithful"].gates
    assert faithful.warmup and faithful.sticky and faithful.verdict_at_layer_check and faithful.keep_one
    assert not built["autotrainer"].gates.sticky and not built["autotrainer"].gates.verdict_at_layer_check
    assert built["thesis"].schedule.check_epochs(50)[-3:] == [21, 31, 41]
