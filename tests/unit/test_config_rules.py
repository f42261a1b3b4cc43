"""Every config group option composes; each validation rule fails with a message naming key and value."""

import re
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from tests.conftest import CONF_DIR, compose_train
from trainfix.training.config_rules import ConfigError, check_config

GROUPS = ["data", "model", "optimizer", "scheduler", "strategy", "convergence", "trainer", "logger", "callbacks"]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes_and_passes_the_rules(group, option, tmp_path):
    overrides = [f"{group}={option}"]
    if option == "image_folder":
        overrides.append("data.folder=/some/images")
    if option == "tensor_file":
        overrides.append("data.file=/some/tensors.pt")
    if option == "custom":
        overrides.append("model.target=torch.nn.Linear")
    cfg = compose_train(overrides, tmp_path)
    OmegaConf.to_container(cfg, resolve=True)
    check_config(cfg)


def test_every_option_instantiates(tmp_path):
    """Optimizers, schedulers, strategies and loggers build from their YAML."""
    import torch
    from hydra.utils import instantiate

    params = [torch.nn.Parameter(torch.zeros(3))]
    schedulers = [compose_train([f"scheduler={sched}"], tmp_path).scheduler.scheduler for sched in options("scheduler")]
    for option in options("optimizer"):
        optimizer = instantiate(compose_train([f"optimizer={option}"], tmp_path).optimizer)(params=params)
        assert isinstance(optimizer, torch.optim.Optimizer)
        for sched_cfg in schedulers:
            if sched_cfg is not None:
                instantiate(sched_cfg)(optimizer=optimizer)
    for option in options("strategy"):
        strategy = instantiate(compose_train([f"strategy={option}"], tmp_path).strategy)
        strategy.bind(10, 4, seed=0)
        assert sum(len(b) for b in strategy.plan_epoch(0)) == 10
    from trainfix.training.callbacks.convergence import Convergence

    for option in options("convergence"):  # built as train.py builds it: Convergence(run_dir, **cfg.convergence)
        convergence = Convergence(tmp_path, **compose_train([f"convergence={option}"], tmp_path).convergence)
        assert len(convergence.measurements()) == int(option == "eq12_full")


def rules_error(tmp_path: Path, *overrides: str) -> str:
    cfg = compose_train(list(overrides), tmp_path)
    with pytest.raises(ConfigError) as info:
        check_config(cfg)
    return str(info.value)


@pytest.mark.parametrize(
    "override,expected",
    [
        ("model.name=resnet99", r"model.name='resnet99': not a known model; accepted: \[.*'lenet5'"),
        ("data.dataset=imagenet", r"data.dataset='imagenet': not a known dataset; accepted: \[.*'mnist'"),
        ("strategy._target_=my.Strategy", r"strategy._target_='my.Strategy': not a known strategy class"),
        ("optimizer.lr=-0.1", r"optimizer.lr=-0.1: the learning rate must be a number > 0"),
        ("optimizer.lr=0", r"optimizer.lr=0: the learning rate must be a number > 0"),
        (
            "optimizer.initial_accumulator_value=-0.1",
            r"optimizer.initial_accumulator_value=-0.1: Adagrad's starting accumulator must be a number >= 0",
        ),
        ("data.batch_size=0", r"data.batch_size=0: the batch size must be an integer >= 1"),
        ("data.batch_size=-5", r"data.batch_size=-5: the batch size must be an integer >= 1"),
        ("data.eval_batch_size=0", r"data.eval_batch_size=0"),
        ("trainer.max_epochs=0", r"trainer.max_epochs=0: the number of epochs must be an integer >= 1"),
        (
            "data.augment.flip=true",
            r"data.augment.flip=True: a horizontal flip changes what mnist images mean.*accepted on \[.*'cifar10'",
        ),
        ("data.augment.crop_padding=-1", r"data.augment.crop_padding=-1: the crop padding must be an integer >= 0"),
        ("data.val_fraction=1.5", r"data.val_fraction=1.5: the validation fraction must be in \[0, 1\)"),
        ("seed=-1", r"seed=-1: the seed must be an integer in 0\.\.4294967295"),
        ("seed=100000000000000000000", r"seed=100000000000000000000: the seed must be an integer in 0\.\.4294967295"),
        ("seed=1e20", r"seed=1e\+20: the seed must be an integer"),
        ("optimizer.lr=inf", r"optimizer.lr=inf: must be a finite number"),
        ("convergence.epsilon=nan", r"convergence.epsilon=nan: must be a finite number"),
        ("trainer.use_distributed_sampler=true", r"trainer.use_distributed_sampler=True: must be false"),
        ("convergence.reading=full", r"convergence.reading='full' needs convergence.full_gradient=true"),
        ("convergence.full_gradient_chunk=0", r"convergence.full_gradient_chunk=0: samples per chunk"),
    ],
)
def test_rule_message_names_key_value_and_accepted(tmp_path, override, expected):
    assert re.search(expected, rules_error(tmp_path, override), re.S)


def test_wandb_mode_typo_refused_before_training(tmp_path):
    cfg = compose_train(["logger=wandb", "logger.wandb.mode=onlin"], tmp_path)
    with pytest.raises(ConfigError, match=r"logger.wandb.mode='onlin': accepted online, offline, disabled"):
        check_config(cfg)
    check_config(compose_train(["logger=wandb", "logger.wandb.mode=offline"], tmp_path))


def test_all_problems_reported_at_once(tmp_path):
    message = rules_error(tmp_path, "optimizer.lr=-1", "data.batch_size=0")
    assert "optimizer.lr=-1" in message and "data.batch_size=0" in message


def test_flip_accepted_on_cifar10(tmp_path):
    check_config(compose_train(["data=cifar10", "data.augment.flip=true", "data.augment.crop_padding=4"], tmp_path))


def test_unknown_group_option_lists_available(tmp_path):
    with pytest.raises(ConfigCompositionException, match=r"(?s)Could not find 'model/resnet99'.*lenet5"):
        compose_train(["model=resnet99"], tmp_path)


def test_typo_in_key_is_refused(tmp_path):
    with pytest.raises(ConfigCompositionException, match="batchsize"):
        compose_train(["data.batchsize=128"], tmp_path)


# DeepEutaxy's table cells (other papers' experiments have their own tests, e.g. tests/integration/test_monitor_run.py,
# tests/unit/test_apricot_config.py).
EXPERIMENTS = sorted(
    str(p.relative_to(CONF_DIR / "experiment").with_suffix(""))
    for p in (CONF_DIR / "experiment" / "deepeutaxy").rglob("*.yaml")
)


# The MNIST rows' quick sizes (epochs, batch), chosen so that BL learns (>= 90 % test accuracy; measured: LeNet-5
# 98.2 % after 10 epochs of all MNIST, CNN1 94.3 % after 3 epochs of 6,000 images); the CIFAR rows are pipeline checks.
QUICK = {"lenet5": (10, 1000), "cnn1": (3, 100)}


@pytest.mark.parametrize("profile", ["full", "quick"])
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_with_each_strategy(experiment, profile, tmp_path):
    """Each table cell's config composes, passes the rules, and pins the paper's settings."""
    assert len(EXPERIMENTS) == 8
    strategies = (
        ["spl", "deepeutaxy", "spl_deepeutaxy"] if "table_vii" in experiment else ["baseline", "spl", "deepeutaxy"]
    )
    for strategy in strategies:
        cfg = compose_train(
            [f"experiment={experiment}", f"profile={profile}", f"strategy={strategy}", "seed=3"], tmp_path
        )
        check_config(cfg)
        resolved = OmegaConf.to_container(cfg, resolve=True)
        row = experiment.split("/")[-1]
        assert resolved["run_name"] == f"{row}_{strategy}_paper_seed3"
        quick = QUICK.get(row, (resolved["quick"]["max_epochs"], resolved["quick"]["batch_size"]))
        assert resolved["data"]["batch_size"] == (1000 if profile == "full" else quick[1])
        assert resolved["data"]["augment"] == {"crop_padding": 0, "flip": False}
        epochs = (50 if "table_vii" in experiment else 200) if profile == "full" else quick[0]
        assert resolved["trainer"]["max_epochs"] == epochs
        if "iter_count" in resolved["strategy"]:
            assert resolved["strategy"]["iter_count"] == (
                2 if profile == "quick" else 5 if row in ("cnn1", "lenet5") else 10
            )
        if "table_vii" in experiment:
            assert resolved["init_from"].endswith(
                f"deepeutaxy_table_iv_{profile}/{row}_spl_paper_seed3/checkpoints/last.ckpt"
            )
