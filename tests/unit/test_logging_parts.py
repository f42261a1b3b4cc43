"""The pieces of logging: the monitored metric, best epochs, the flat run config, the logger and callback configs."""

import json

import pandas as pd
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from pytorch_lightning.loggers import MLFlowLogger, TensorBoardLogger, WandbLogger

from tests.conftest import compose_train
from trainfix.core.records import best_epoch
from trainfix.models import build_model
from trainfix.strategies.baseline import Baseline
from trainfix.training.callbacks.progress import monitored_metric
from trainfix.training.callbacks.run_loggers import flat_run_config
from trainfix.training.module import Classifier


def test_the_monitored_metric_is_val_acc_only_with_a_validation_split(tmp_path):
    assert monitored_metric(0.0) == "test_acc" and monitored_metric(0.1) == "val_acc"
    cfg = compose_train(["callbacks=best", "data.val_fraction=0.25"], tmp_path)
    assert cfg.callbacks.early_stopping.monitor == "val_acc" == cfg.callbacks.model_checkpoint.monitor
    assert compose_train(["callbacks=model_checkpoint"], tmp_path).callbacks.model_checkpoint.monitor == "test_acc"


def test_the_progress_bar_follows_whether_stderr_is_a_terminal(tmp_path, monkeypatch):
    import sys

    cfg = compose_train([], tmp_path)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert cfg.trainer.enable_progress_bar is False
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert cfg.trainer.enable_progress_bar is True


def test_best_epoch_is_the_highest_accuracy_and_the_lowest_loss():
    metrics = pd.DataFrame(
        {"epoch": [0, 1, 2, 3], "test_acc": [0.5, 0.9, 0.8, float("nan")], "test_loss": [2.0, 0.4, 0.3, 0.9]}
    )
    assert best_epoch(metrics, "test_acc") == (0.9, 1)
    assert best_epoch(metrics, "test_loss") == (0.3, 2)
    assert best_epoch(metrics, "val_acc") is None
    assert best_epoch(metrics.assign(test_acc=float("nan")), "test_acc") is None


def test_flat_run_config_has_dotted_keys_and_the_data_facts():
    flat = flat_run_config(
        {"data": {"batch_size": 250, "augment": {"flip": False}}, "tags": ["a"], "init_from": None}, {"num_train": 2000}
    )
    assert flat == {
        "data.batch_size": 250,
        "data.augment.flip": False,
        "tags": ["a"],
        "init_from": None,
        "data_loaded.num_train": 2000,
    }


def test_best_so_far_values_are_rebuilt_from_recorded_rows():
    module = Classifier(
        net=build_model("mlp", num_classes=10, in_channels=1, image_size=28),
        strategy=Baseline(),
        num_classes=10,
        optimizer=torch.optim.SGD,
        eval_names=("test", "val"),
    )
    rows = [
        {"epoch": 0, "test_acc": 0.5, "test_loss": 1.5, "val_acc": 0.4, "val_loss": 1.6},
        {"epoch": 1, "test_acc": 0.75, "test_loss": 1.25, "val_acc": float("nan"), "val_loss": 1.0},
        {"epoch": 2, "test_acc": 0.625, "test_loss": 1.75, "val_acc": 0.375, "val_loss": 2.0},
    ]
    module.restore_best(rows)
    assert module.eval_best == pytest.approx(
        {"test_acc_best": 0.75, "test_loss_best": 1.25, "val_acc_best": 0.4, "val_loss_best": 1.0}
    )
    module.restore_best(rows[:1])
    assert module.eval_best["test_acc_best"] == 0.5


def test_a_module_without_a_recorder_records_each_epoch_once_with_the_callbacks_metrics(monkeypatch):
    # What a plain pl.Trainer gets (docs/own_model.md): the module's own epoch row, built where RunRecorder builds its.
    from types import SimpleNamespace

    module = Classifier(
        net=build_model("mlp", num_classes=10, in_channels=1, image_size=28),
        strategy=Baseline(),
        num_classes=10,
        optimizer=torch.optim.SGD,
    )
    module._trainer = SimpleNamespace(current_epoch=2, global_step=30)
    module._lr_before_metric_step = 0.5
    logged = []
    monkeypatch.setattr(module, "log_epoch", logged.append)
    module.train_loss.update(torch.tensor([1.0, 2.0]))
    module.train_acc.update(torch.eye(10)[:2], torch.tensor([0, 5]))
    module.eval_results = {"test_acc": 0.75, "test_loss": 0.5}
    module.extra_epoch_metrics = {"grad_norm_full": 1.25}
    module.on_train_epoch_end()
    assert module.history == logged
    row = module.history[0]
    assert (row["epoch"], row["global_step"], row["train_loss"], row["train_acc"], row["lr"]) == (2, 30, 1.5, 0.5, 0.5)
    assert (row["test_acc"], row["grad_norm_full"]) == (0.75, 1.25)
    assert module.eval_results == {} and module.extra_epoch_metrics == {}  # each taken once
    module.on_train_epoch_end()  # nothing trained since: no second row
    assert len(module.history) == 1


def test_every_logger_and_callback_option_instantiates(tmp_path):
    expected_loggers = {
        "csv": set(),
        "wandb": {WandbLogger},
        "tensorboard": {TensorBoardLogger},
        "mlflow": {MLFlowLogger},
    }
    for option, types in expected_loggers.items():
        cfg = compose_train([f"logger={option}"], tmp_path)
        assert {type(instantiate(c)) for c in cfg.logger.values()} == types, option
    expected_callbacks = {
        "default": set(),
        "none": set(),
        "early_stopping": {EarlyStopping},
        "model_checkpoint": {ModelCheckpoint},
        "best": {EarlyStopping, ModelCheckpoint},
    }
    for option, types in expected_callbacks.items():
        cfg = compose_train([f"callbacks={option}"], tmp_path)
        assert {type(instantiate(c)) for c in cfg.callbacks.values()} == types, option
        assert cfg.trainer.enable_checkpointing == (ModelCheckpoint in types), option


def test_a_resumed_run_reuses_its_wandb_id(tmp_path):
    cfg = compose_train(["logger=wandb"], tmp_path)
    assert instantiate(cfg.logger.wandb).version != instantiate(cfg.logger.wandb).version  # new runs: new ids
    (tmp_path / "run.json").write_text(json.dumps({"status": "running", "wandb_id": "abc123"}))
    logger = instantiate(cfg.logger.wandb)
    assert logger.version == "abc123" and logger._wandb_init["resume"] == "allow"
    assert logger._wandb_init["name"] == tmp_path.name  # the W&B run has the run folder's name
    assert OmegaConf.to_container(cfg.logger.wandb, resolve=True)["run_tags"] == [
        "profile=full",
        "strategy=baseline",
        "variant=paper",
        "seed=0",
        "model=lenet5",
        "data=mnist",
    ]
