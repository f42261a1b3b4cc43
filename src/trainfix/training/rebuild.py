"""What a checkpoint carries to rebuild its module without its data, and reading checkpoint files.

`train.py` stores `rebuild_info` in every checkpoint (the resolved configuration, the network's build
arguments, the evaluation set names); `Classifier.load_from_checkpoint` and `load_run` read it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from trainfix.core.records import RUN_FILE, read_run
from trainfix.models.custom import config_network
from trainfix.models.spec import NetSpec

if TYPE_CHECKING:
    from trainfix.data.datamodule import ImageDataModule


class RunLoadError(ValueError):
    """A run folder or checkpoint that cannot be loaded; the message names it and the fix."""


def rebuild_info(cfg: DictConfig, datamodule: ImageDataModule, config: dict[str, Any]) -> dict[str, Any]:
    """What `Classifier.load_from_checkpoint` needs to rebuild the module of `cfg` without its data:
    the resolved run configuration `config`, the network's build arguments, the evaluation set names.
    `train.py` sets it on the module it builds; every checkpoint carries it."""
    channels, height, width = datamodule.input_shape
    if height != width:
        raise ValueError(
            f"data={cfg.data.dataset} has non-square images ({height}x{width}); the models accept square images"
        )
    net = net_spec(OmegaConf.to_container(cfg.model, resolve=True), datamodule.num_classes, channels, height)
    return {"config": config, "net": asdict(net), "eval_names": list(datamodule.eval_names)}


def net_spec(model: Mapping[str, Any], num_classes: int, channels: int, size: int) -> NetSpec:
    """The network of the resolved model config `model` for `channels` x `size` x `size` images of `num_classes`
    classes: what a run builds (`rebuild_info`) and what a run folder without stored rebuild information rebuilds."""
    target, params = config_network(model)
    return NetSpec(
        str(model["name"]),
        num_classes,
        channels,
        size,
        params,
        str(model.get("init") or "default"),
        float(model.get("input_noise_std") or 0.0),
        target,
    )


def read_checkpoint(path: Path) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated file, not a checkpoint, foreign pickle
        raise RunLoadError(f"{path}: cannot read the checkpoint ({type(error).__name__}: {error})") from None
    if not isinstance(state, dict) or "state_dict" not in state:
        raise RunLoadError(f"{path}: not a Lightning checkpoint (no state_dict)")
    return state


def load_weights(classifier: nn.Module, state_dict: dict[str, torch.Tensor], path: Path, cfg: DictConfig) -> None:
    try:
        classifier.load_state_dict(state_dict)
    except RuntimeError as error:
        raise RunLoadError(f"{path} does not fit model={cfg.model.name} as the run configures it:\n{error}") from None


def rebuild_from_run_folder(path: Path) -> dict[str, Any]:
    """Rebuild information for checkpoints saved before it was stored in them: the run.json beside checkpoints/."""
    run_dir = path.resolve().parent.parent
    record = read_run(run_dir)
    if record is None or "config" not in record or "data" not in record:
        raise RunLoadError(
            f"{path} holds no run configuration (saved before trainfix stored it in checkpoints) "
            f"and {run_dir / RUN_FILE} is missing or incomplete; load it with trainfix.load_run(<run folder>) instead"
        )
    config, data = record["config"], record["data"]
    channels, size, _ = data["input_shape"]
    net = net_spec(config["model"], data["num_classes"], channels, size)
    names = instantiate(OmegaConf.create(config).data).eval_names  # the constructor reads no files
    return {"config": config, "net": asdict(net), "eval_names": list(names)}
