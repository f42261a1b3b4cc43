"""Checks on a composed configuration, run before anything is built or trained.

Hydra already refuses an unknown config-group option (`model=foo` lists the available ones) and an
unknown key (struct mode). These rules catch bad *values*. Every problem found is reported at
once, each naming the key, the bad value and what is accepted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Integral, Real
from typing import Any

from omegaconf import DictConfig, OmegaConf

from trainfix.data.catalogue import DATASETS
from trainfix.models.custom import CUSTOM, EXAMPLE, config_network, import_target
from trainfix.models.registry import CORE_ARGUMENTS, INITS, accepted_model_names
from trainfix.strategies import STRATEGIES
from trainfix.strategies.baseline import VARIANTS
from trainfix.training.callbacks.convergence import READINGS
from trainfix.training.logger_setup import WANDB_MODES

STRATEGY_TARGETS = {f"{cls.__module__}.{cls.__qualname__}": name for name, cls in STRATEGIES.items()}
SCHEDULER_INTERVALS = ("step", "epoch")
MAX_SEED = 2**32 - 1  # NumPy's and the CUDA generators' range


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message lists every problem found."""


def _get(cfg: DictConfig, key: str) -> Any:
    return OmegaConf.select(cfg, key, default=None)


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _non_finite_numbers(cfg: DictConfig) -> list[str]:
    """`key=inf: ...` for every infinite or NaN number anywhere in the configuration (none is meaningful)."""
    problems = []

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{prefix}{index}.")
        elif isinstance(node, float) and not math.isfinite(node):
            problems.append(f"{prefix[:-1]}={node!r}: must be a finite number")

    for key in cfg:
        if key != "hydra":
            walk(
                {key: OmegaConf.to_container(cfg[key], resolve=True) if OmegaConf.is_config(cfg[key]) else cfg[key]}, ""
            )
    return problems


def check_config(cfg: DictConfig) -> None:
    """Raise `ConfigError` listing every invalid value in `cfg`."""
    problems: list[str] = []

    def require(key: str, ok: Callable[[Any], bool], accepted: str) -> Any:
        value = _get(cfg, key)
        if not ok(value):
            problems.append(f"{key}={value!r}: {accepted}")
        return value

    model = require(
        "model.name",
        lambda v: v in accepted_model_names(),
        f"not a known model; accepted: {accepted_model_names()} (custom: your own network, docs/own_model.md)",
    )
    params = _get(cfg, "model.params")
    for key in sorted(set(params or {}) & set(CORE_ARGUMENTS)):
        problems.append(f"model.params.{key}: set from the data for every model; remove it")
    if model == CUSTOM or _get(cfg, "model._target_") is not None:
        try:
            target, _ = config_network(OmegaConf.to_container(cfg.model, resolve=True))
        except ValueError as error:
            problems.append(str(error))
        else:
            if model != CUSTOM:
                problems.append(f"model._target_={target!r} goes with model.name=custom, not {model!r}")
            elif target is None:
                problems.append(f"model=custom needs model.target=<package.module.factory>, e.g. {EXAMPLE}")
            else:
                try:
                    import_target(target)  # a typo in the path fails here, before any data is read
                except ValueError as error:
                    problems.append(str(error))
    dataset = require("data.dataset", lambda v: v in DATASETS, f"not a known dataset; accepted: {sorted(DATASETS)}")
    require(
        "strategy._target_",
        lambda v: v in STRATEGY_TARGETS,
        f"not a known strategy class; accepted: {sorted(STRATEGY_TARGETS)} (pick one with "
        f"strategy={'|'.join(sorted(STRATEGIES))})",
    )
    require(
        "optimizer.lr",
        lambda v: _is_number(v) and v > 0,
        "the learning rate must be a number > 0, e.g. optimizer.lr=0.1",
    )
    if _get(cfg, "optimizer.initial_accumulator_value") is not None:  # Adagrad
        require(
            "optimizer.initial_accumulator_value",
            lambda v: _is_number(v) and v >= 0,
            "Adagrad's starting accumulator must be a number >= 0 (0: torch and Keras 2.3.1; 0.1: tf.keras)",
        )
    require(
        "data.batch_size",
        lambda v: _is_int(v) and v >= 1,
        "the batch size must be an integer >= 1, e.g. data.batch_size=1000",
    )
    require(
        "data.eval_batch_size", lambda v: _is_int(v) and v >= 1, "the evaluation batch size must be an integer >= 1"
    )
    require("trainer.max_epochs", lambda v: _is_int(v) and v >= 1, "the number of epochs must be an integer >= 1")
    require(
        "seed", lambda v: _is_int(v) and 0 <= v <= MAX_SEED, f"the seed must be an integer in 0..{MAX_SEED} (2^32 - 1)"
    )
    require("variant", lambda v: v in VARIANTS, f"accepted: {list(VARIANTS)}")
    require("convergence.epsilon", lambda v: _is_number(v) and v > 0, "the convergence threshold must be a number > 0")
    reading = require("convergence.reading", lambda v: v in READINGS, f"accepted: {sorted(READINGS)}")
    full_gradient = require("convergence.full_gradient", lambda v: isinstance(v, bool), "must be true or false")
    if reading == "full" and full_gradient is False:
        problems.append(
            "convergence.reading='full' needs convergence.full_gradient=true (the full-set gradient is measured only "
            "then)"
        )
    require(
        "convergence.full_gradient_chunk",
        lambda v: _is_int(v) and v >= 1,
        "samples per chunk of the full-gradient pass: an integer >= 1",
    )
    require("data.val_fraction", lambda v: _is_number(v) and 0 <= v < 1, "the validation fraction must be in [0, 1)")
    for key in ("data.train_subset", "data.test_subset"):
        require(key, lambda v: v is None or (_is_int(v) and v >= 1), "must be null (all samples) or an integer >= 1")
    require(
        "trainer.use_distributed_sampler",
        lambda v: v is False,
        "must be false: the batch plan sampler serves each rank its slice of every global batch",
    )
    if _get(cfg, "scheduler.scheduler") is not None:
        require("scheduler.interval", lambda v: v in SCHEDULER_INTERVALS, f"accepted: {list(SCHEDULER_INTERVALS)}")
    monitor = _get(cfg, "scheduler.monitor")
    if monitor is not None:
        if _get(cfg, "scheduler.interval") != "epoch":
            problems.append(
                f"scheduler.monitor={monitor!r} needs scheduler.interval='epoch' (the metric is logged once per epoch)"
            )
        eval_losses = ["test_loss"] + (
            ["val_loss"] if _is_number(val := _get(cfg, "data.val_fraction")) and val > 0 else []
        )
        if monitor not in eval_losses:
            problems.append(
                f"scheduler.monitor={monitor!r}: not an evaluation loss this run logs; accepted: {eval_losses}"
            )
    if _get(cfg, "model.init") is not None:
        require("model.init", lambda v: v in INITS, f"accepted: {list(INITS)}")
    if _get(cfg, "model.input_noise_std") is not None:
        require(
            "model.input_noise_std",
            lambda v: _is_number(v) and v >= 0,
            "the input noise std must be a number >= 0 (0 = off)",
        )

    # A sweeper optimizes what `main()` returns: the last epoch's value of this column of metrics.csv.
    metric = _get(cfg, "optimized_metric")
    val_fraction = _get(cfg, "data.val_fraction")
    if isinstance(metric, str) and metric.startswith("val_") and not (_is_number(val_fraction) and val_fraction > 0):
        problems.append(
            f"optimized_metric={metric!r}: the run has no validation set (data.val_fraction={val_fraction!r}); "
            "set data.val_fraction, e.g. 0.1, or optimize a metric the run records (test_acc, train_loss, ...)"
        )
    if isinstance(metric, str) and metric.startswith("train_eval_") and _get(cfg, "data.eval_train") is not True:
        problems.append(
            f"optimized_metric={metric!r}: the run does not evaluate the training set; set data.eval_train=true"
        )

    padding = require(
        "data.augment.crop_padding",
        lambda v: _is_int(v) and v >= 0,
        "the crop padding must be an integer >= 0 (0 = no crop)",
    )
    flip = require("data.augment.flip", lambda v: isinstance(v, bool), "must be true or false")
    if dataset in DATASETS:
        spec = DATASETS[dataset]
        if flip is True and not spec.flip_ok:
            accepted = sorted(name for name, s in DATASETS.items() if s.flip_ok)
            problems.append(
                f"data.augment.flip=True: a horizontal flip changes what {dataset} images mean (digits/characters); "
                f"flip is accepted on {accepted}"
            )
        if _is_int(padding) and padding > 0 and not spec.crop_ok:
            accepted = sorted(name for name, s in DATASETS.items() if s.crop_ok)
            problems.append(
                f"data.augment.crop_padding={padding}: random crops are not accepted on {dataset}; "
                f"accepted on {accepted}"
            )
        if dataset == "image_folder":
            require(
                "data.folder",
                lambda v: isinstance(v, str) and v != "",
                "data=image_folder needs data.folder=<dir with train/ and test/>",
            )
        if dataset == "tensor_file":
            require(
                "data.file",
                lambda v: isinstance(v, str) and v != "",
                "data=tensor_file needs data.file=<a .pt file with train and test images and labels>",
            )

    wandb_mode = _get(cfg, "logger.wandb.mode")
    if wandb_mode is not None and wandb_mode not in WANDB_MODES:
        problems.append(
            f"logger.wandb.mode={wandb_mode!r}: accepted {', '.join(WANDB_MODES)}, or null "
            "(offline unless WANDB_MODE is set or W&B credentials are found)"
        )

    problems += _non_finite_numbers(cfg)
    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))
