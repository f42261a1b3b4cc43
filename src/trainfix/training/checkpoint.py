"""Rebuild a trained run from its folder: the network, the `Classifier`, the data and the config.

    from trainfix import load_run
    run = load_run("runs/train/default")            # checkpoint="last" | "best" | a path
    run.net                                          # the trained network, eval mode
    run.classifier, run.datamodule, run.config       # the LightningModule, the (set up) data, the config

    from trainfix.training.module import Classifier
    module = Classifier.load_from_checkpoint("runs/train/default/checkpoints/last.ckpt")

The configuration comes from the run folder's `run.json` (its `config`, as the run resolved it),
else from Hydra's `.hydra/config.yaml`. The module is built with the arguments `train.py` uses, from
the same configuration and data, so a rebuilt run is the trained one: same network, same evaluation
sets, same data subsets, same validation split. `train.py` stores `rebuild_info` in every checkpoint.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from trainfix.core.records import CHECKPOINT_DIR, FINISHED, LAST_CHECKPOINT, RUN_FILE, read_run
from trainfix.data.datamodule import ImageDataModule
from trainfix.models.spec import NetSpec
from trainfix.training.compose import register_resolvers
from trainfix.training.module import Classifier
from trainfix.training.rebuild import RunLoadError, load_weights, read_checkpoint

__all__ = [
    "CHECKPOINT_CHOICES",
    "LoadedRun",
    "RunLoadError",
    "classifier_from_checkpoint",
    "load_run",
    "resolve_checkpoint",
]

log = logging.getLogger(__name__)

BEST_CHECKPOINT = "best.ckpt"
HYDRA_CONFIG = Path(".hydra") / "config.yaml"
CHECKPOINT_CHOICES = ("last", "best")


@dataclass
class LoadedRun:
    """A trained run, rebuilt. `net` is the trained network in eval mode (on `device`)."""

    run_dir: Path
    config: DictConfig
    config_source: str
    record: dict[str, Any] | None
    checkpoint: Path
    checkpoint_epoch: int | None
    checkpoint_step: int | None
    classifier: Classifier
    datamodule: ImageDataModule

    @property
    def net(self) -> nn.Module:
        return self.classifier.net

    @property
    def net_spec(self) -> NetSpec:
        return NetSpec(**self.classifier.rebuild["net"])


def load_run(
    run_dir: str | Path,
    checkpoint: str | Path = "last",
    *,
    overrides: list[str] | tuple[str, ...] = (),
    device: str | torch.device = "cpu",
    allow_unfinished: bool = False,
) -> LoadedRun:
    """Rebuild the run in `run_dir` from its saved config and load a checkpoint's weights.

    Args:
        run_dir: a run folder (holding run.json or .hydra/config.yaml, and checkpoints/).
        checkpoint: "last" (checkpoints/last.ckpt), "best" (checkpoints/best.ckpt) or a path to a .ckpt.
        overrides: dotlist changes to the saved config before rebuilding, e.g. ["data.root=/data",
            "data.eval_train=true"].
        device: where the network and the data tensors go.
        allow_unfinished: load a run whose run.json says running, failed or diverged.

    Raises:
        RunLoadError: no such folder, no config, no such checkpoint, an unfinished run, or a
            checkpoint that does not fit the configured network.
    """
    register_resolvers()  # a saved .hydra/config.yaml may use ours (e.g. Table VII's init_from)
    run_dir = Path(run_dir).expanduser()
    if not run_dir.is_dir():
        raise RunLoadError(f"run_dir={str(run_dir)!r}: no such folder")
    record = read_run(run_dir)
    cfg, source = _saved_config(run_dir, record)
    _check_finished(run_dir, record, allow_unfinished)
    if str(checkpoint) in ("last", "best") and not (run_dir / CHECKPOINT_DIR).is_dir() and record is not None:
        raise RunLoadError(
            f"{run_dir} has no {CHECKPOINT_DIR}/ folder: it holds a run's records without its weights (an evidence "
            f"folder's runs/ keeps {RUN_FILE}, metrics.csv and overrides.yaml, not checkpoints); load the run folder "
            "it was copied from, or train it again with the overrides in its overrides.yaml (docs/results.md)"
        )
    path = resolve_checkpoint(run_dir, checkpoint)
    if overrides:
        cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))
    try:
        cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    except Exception as error:  # an interpolation the saved config cannot resolve outside its Hydra run
        raise RunLoadError(f"{run_dir}: cannot resolve the saved configuration ({source}): {error}") from None

    strategy = instantiate(cfg.strategy)
    datamodule: ImageDataModule = instantiate(cfg.data)
    datamodule.attach(strategy, int(cfg.seed))  # the seed draws the validation split
    classifier = Classifier.from_config(cfg, datamodule, strategy)
    state = read_checkpoint(path)
    load_weights(classifier, state["state_dict"], path, cfg)
    classifier.to(device).eval()
    datamodule.setup("validate")
    if torch.device(device).type != "cpu":
        for name, (images, labels) in datamodule.on_device.items():
            datamodule.on_device[name] = (images.to(device), labels.to(device))
    return LoadedRun(
        run_dir, cfg, source, record, path, state.get("epoch"), state.get("global_step"), classifier, datamodule
    )


def resolve_checkpoint(run_dir: Path, checkpoint: str | Path) -> Path:
    """The checkpoint file that `checkpoint` ("last", "best" or a path) names for `run_dir`."""
    name = str(checkpoint)
    named = {  # ckpt=<name>: its file, and why a run may lack it
        "last": (
            LAST_CHECKPOINT,
            "the run ended before its first epoch did (see run.json's error), or the folder was "
            "made by another tool",
        ),
        "best": (BEST_CHECKPOINT, "this run kept no best checkpoint; use ckpt=last, or ckpt=<path to a .ckpt file>"),
    }
    if name in named:
        file, why = named[name]
        path = run_dir / CHECKPOINT_DIR / file
        if not path.is_file():
            raise RunLoadError(f"{run_dir} has no {CHECKPOINT_DIR}/{file}: {why}")
        return path
    path = Path(name).expanduser()
    if not path.is_file():
        raise RunLoadError(
            f"ckpt={name!r}: no such file; accepted: {', '.join(CHECKPOINT_CHOICES)} or the path of a .ckpt file"
        )
    return path


def _saved_config(run_dir: Path, record: dict[str, Any] | None) -> tuple[DictConfig, str]:
    if record is not None and record.get("config"):
        return OmegaConf.create(record["config"]), RUN_FILE
    hydra_config = run_dir / HYDRA_CONFIG
    if hydra_config.is_file():
        return _config_from_hydra_files(run_dir), str(HYDRA_CONFIG)
    raise RunLoadError(f"{run_dir} is not a run folder: it has neither {RUN_FILE} (with a config) nor {HYDRA_CONFIG}")


_HYDRA_INTERPOLATION = re.compile(r"\$\{hydra:([^{}]+)\}")


def _config_from_hydra_files(run_dir: Path) -> DictConfig:
    """.hydra/config.yaml, its `${hydra:...}` interpolations filled in (outside Hydra they do not resolve):
    the folder is the run's output dir and its name the run's name; the rest come from .hydra/hydra.yaml."""
    cfg = OmegaConf.load(run_dir / HYDRA_CONFIG)
    cfg.paths.output_dir = str(run_dir)
    cfg.run_name = run_dir.name
    hydra_file = run_dir / HYDRA_CONFIG.parent / "hydra.yaml"
    hydra = OmegaConf.load(hydra_file).hydra if hydra_file.is_file() else None

    def fill(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: fill(value) for key, value in node.items()}
        if isinstance(node, list):
            return [fill(value) for value in node]
        if isinstance(node, str) and hydra is not None:
            return _HYDRA_INTERPOLATION.sub(
                lambda m: str(OmegaConf.select(hydra, m.group(1), default=m.group(0))), node
            )
        return node

    return OmegaConf.create(fill(OmegaConf.to_container(cfg, resolve=False)))


def _check_finished(run_dir: Path, record: dict[str, Any] | None, allow_unfinished: bool) -> None:
    if record is None:
        log.warning("%s has no %s: cannot tell whether the run finished", run_dir, RUN_FILE)
        return
    status = record.get("status")
    if status == FINISHED or allow_unfinished:
        return
    why = {
        "running": "still training, or killed: re-run its train command to finish it",
        "interrupted": "it was stopped: re-run its train command to finish it",
        "failed": f"it failed ({record.get('error', 'no error recorded')})",
        "diverged": "its training loss became non-finite, so its weights are not a trained model",
    }.get(str(status), "unknown status")
    raise RunLoadError(
        f"{run_dir}: the run is not finished (status {status}: {why}); allow_unfinished=true loads its checkpoint "
        "anyway"
    )


def classifier_from_checkpoint(path: Path, map_location: Any = "cpu") -> Classifier:
    """The module of a trainfix checkpoint rebuilt, weights loaded, in eval mode (`Classifier.load_from_checkpoint`)."""
    return Classifier.load_from_checkpoint(path, map_location)
