"""The monitor on real runs (real MNIST, CPU): records, stop at detection, AutoTrainer's repair loop."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hydra.utils import instantiate

from trainfix.monitor.callback import TrainingMonitor
from trainfix.monitor.detectors import ol_judge
from trainfix.monitor.repair import attempts_for, repair
from trainfix.train import compose_config, train

# A 1-hidden-layer MLP with SGD at lr 0.5 oscillates on 2,000 MNIST images: its validation accuracy
# is 0.678 0.882 0.816 0.862 over its first 4 epochs on this CPU (one pair of 0.066 >= 0.2 x 4 epochs).
OSCILLATING = [
    "experiment=monitor/ol_mnist", "data.train_subset=2000", "data.test_subset=500", "trainer.max_epochs=8",
    "optimizer=sgd", "optimizer.lr=0.5", "model.params.hidden_layers=1", "monitor=autotrainer_faithful", "monitor.series=val_acc",
    "monitor.schedule.every=1", "trainer.accelerator=cpu", "trainer.enable_progress_bar=false",
]


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


def test_oscillating_run_is_stopped_then_repaired(tmp_path, data_dir):
    overrides = [f"paths.data_dir={data_dir}", *OSCILLATING]
    run_dir = tmp_path / "run"
    train(compose_config(overrides + ["monitor.on_detection=stop"], run_dir))

    metrics = pd.read_csv(run_dir / "metrics.csv")
    monitor = json.loads((run_dir / "monitor.json").read_text())
    val = metrics["test_acc"].tolist()
    # the callback's verdict is ol_judge on the recorded series, recomputed here independently
    first = next(n for n in range(1, len(val) + 1) if ol_judge(val[:n], 0.03, 0.2).flagged and n >= 0.3 * 8 - 1)
    assert monitor["detections"] == {"oscillating_loss": first} and monitor["stopped_at"] == first == len(metrics) == 4
    assert metrics["monitor_check"].eq(1).all() and metrics["monitor_grad_ratio"].gt(0).all()
    assert (run_dir / "checkpoints" / "detection.ckpt").exists()

    def in_process(try_overrides: list[str], try_dir: Path) -> None:
        train(compose_config(try_overrides, try_dir))

    table = repair(run_dir, overrides, launcher=in_process, max_tries=3)
    # AutoTrainer's first solution, Keras' Adam with its defaults (lr 1e-3; the run's SGD lr 0.5 is dropped),
    # from the detection weights, finishes 8 epochs with no problem.
    assert [(r["solution"], r["outcome"]) for r in table] == [("adam_1", "solved")]
    assert table[0]["overrides"] == ["optimizer=adam_keras"] and table[0]["from"] == "detection weights"
    fixed = pd.read_csv(Path(table[0]["run"]) / "metrics.csv")
    assert len(fixed) == 8 and json.loads((Path(table[0]["run"]) / "monitor.json").read_text())["detections"] == {}
    assert fixed["lr"].eq(0.001).all()
    # it starts from the weights at detection: its first epoch is already far above a fresh network's
    assert fixed["train_acc"].iloc[0] > metrics["train_acc"].iloc[0] + 0.1
    assert json.loads((run_dir / "repairs.json").read_text())["solved_by"] == "adam_1"

    # AutoTrainer's bn try on these weights: BatchNorm inserted between each hidden Dense and its ReLU,
    # the detection weights loaded into the other layers, the BatchNorm layers fresh.
    bn_dir = tmp_path / "bn"
    train(compose_config([*overrides, "trainer.max_epochs=1", "++model.params.batch_norm=true", f"init_from={run_dir / 'checkpoints' / 'detection.ckpt'}"], bn_dir))
    bn = pd.read_csv(bn_dir / "metrics.csv")
    assert len(bn) == 1 and bn["train_acc"].iloc[0] > metrics["train_acc"].iloc[0] + 0.1


def test_solution_lists_follow_autotrainer():
    # AutoTrainer's tries are 0-based (j = 0..k-1): lr_3 on SGD is 0.01, 0.001, 1e-4; not_converge x10^j.
    config = {"optimizer": {"_target_": "torch.optim.SGD", "lr": 0.5}, "data": {"batch_size": 16}, "model": {"name": "mlp"}}
    tries = attempts_for("oscillating_loss", config, max_tries=10)
    assert [t.overrides for t in tries[1:4]] == [["optimizer.lr=0.01"], ["optimizer.lr=0.001"], ["optimizer.lr=0.0001"]]
    assert [t.overrides for t in tries[5:9]] == [[f"data.batch_size={b}"] for b in (32, 64, 128, 256)]
    assert [t.overrides for t in attempts_for("not_converge", config)][3:6] == [["optimizer.lr=0.01"], ["optimizer.lr=0.1"], ["optimizer.lr=1"]]


@pytest.mark.parametrize("profile", ["full", "quick"])
def test_ol_study_experiment_pins_the_thesis_settings(profile, tmp_path):
    from omegaconf import OmegaConf

    from trainfix.config_rules import check_config

    cfg = compose_config(["experiment=monitor/ol_mnist", f"profile={profile}", "seed=7"], tmp_path)
    check_config(cfg)
    r = OmegaConf.to_container(cfg, resolve=True)
    assert (r["model"]["name"], r["model"]["params"]) == ("mlp", {"hidden_layers": 20, "width": 128, "activation": "relu"})
    assert r["optimizer"]["_target_"] == "torch.optim.Adam" and (r["optimizer"]["lr"], r["optimizer"]["eps"]) == (0.001, 1e-7)
    assert r["scheduler"]["scheduler"] is None  # constant learning rate
    assert r["data"]["batch_size"] == (32 if profile == "full" else r["quick"]["batch_size"])
    assert r["trainer"]["max_epochs"] == (50 if profile == "full" else 5) and r["run_name"].endswith("_seed7")
    assert r["data"]["train_subset"] is None if profile == "full" else r["data"]["train_subset"] == 2000
