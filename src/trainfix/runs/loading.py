"""Rebuild a trained run from its folder: the network, the `Classifier`, the data and the config.

    from trainfix import load_run
    run = load_run("runs/train/default")            # checkpoint="last" | "best" | a path
    run.net                                          # the trained network, eval mode
    run.classifier, run.datamodule, run.config       # the LightningModule, the (set up) data, the config

    from trainfix.models.classifier import Classifier
    module = Classifier.load_from_checkpoint("runs/train/default/checkpoints/last.ckpt")

The configuration comes from the run folder's `run.json` (its `config`, as the run resolved it),
else from Hydra's `.hydra/config.yaml`. The module is built with the arguments `train.py` uses, from
the same configuration and data, so a rebuilt run is the trained one: same network, same evaluation
sets, same data subsets, same validation split. `train.py` stores `rebuild_info` in every checkpoint.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from trainfix.data.datamodule import ImageDataModule
from trainfix.models import build_model
from trainfix.models.classifier import Classifier
import trainfix.runs.identity  # noqa: F401  (resolvers that saved configs use, e.g. Table VII's init_from)
from trainfix.runs.records import CHECKPOINT_DIR, LAST_CHECKPOINT, RUN_FILE, read_run
from trainfix.strategies.base import Strategy

log = logging.getLogger(__name__)

BEST_CHECKPOINT = "best.ckpt"
HYDRA_CONFIG = Path(".hydra") / "config.yaml"
CHECKPOINT_CHOICES = ("last", "best")


class RunLoadError(ValueError):
    """A run folder or checkpoint that cannot be loaded; the message names it and the fix."""


@dataclass(frozen=True)
class NetSpec:
    """What `build_model` needs to rebuild a run's network (saved in checkpoints and exports)."""

    name: str
    num_classes: int
    in_channels: int
    image_size: int
    params: dict[str, Any]
    init: str = "default"           # model.init (checkpoints saved before it existed: the model's own)
    input_noise_std: float = 0.0    # model.input_noise_std

    def build(self) -> nn.Module:
        return build_model(self.name, num_classes=self.num_classes, in_channels=self.in_channels, image_size=self.image_size,
                           init=self.init, input_noise_std=self.input_noise_std, **self.params)


def rebuild_info(cfg: DictConfig, datamodule: ImageDataModule, config: dict[str, Any]) -> dict[str, Any]:
    """What `Classifier.load_from_checkpoint` needs to rebuild the module of `cfg` without its data:
    the resolved run configuration `config`, the network's build arguments, the evaluation set names.
    `train.py` sets it on the module it builds; every checkpoint carries it."""
    channels, height, width = datamodule.input_shape
    if height != width:
        raise ValueError(f"data={cfg.data.dataset} has non-square images ({height}x{width}); the models accept square images")
    params = OmegaConf.to_container(cfg.model.params, resolve=True) if cfg.model.get("params") else {}
    net = NetSpec(str(cfg.model.name), datamodule.num_classes, channels, height, params,
                  str(cfg.model.get("init") or "default"), float(cfg.model.get("input_noise_std") or 0.0))
    return {"config": config, "net": asdict(net), "eval_names": list(datamodule.eval_names)}


def build_classifier(cfg: DictConfig, datamodule: ImageDataModule, strategy: Strategy, config: dict[str, Any] | None = None) -> Classifier:
    """The `Classifier` of the run configured by `cfg` for the data of `datamodule`, untrained; `config`
    is the resolved configuration its checkpoints carry (default: `cfg` resolved). train.py builds
    every run's module here, so a rebuilt run is built the same way."""
    config = config if config is not None else OmegaConf.to_container(cfg, resolve=True)
    return _classifier(cfg, strategy, rebuild_info(cfg, datamodule, config))


def _classifier(cfg: DictConfig, strategy: Strategy, rebuild: dict[str, Any]) -> Classifier:
    net = NetSpec(**rebuild["net"])
    scheduler_cfg = cfg.scheduler.get("scheduler")
    return Classifier(
        net=net.build(),
        strategy=strategy,
        num_classes=net.num_classes,
        optimizer=instantiate(cfg.optimizer),
        scheduler=instantiate(scheduler_cfg) if scheduler_cfg is not None else None,
        scheduler_interval=cfg.scheduler.get("interval", "step"),
        scheduler_monitor=cfg.scheduler.get("monitor"),
        l2_conv_kernels=cfg.model.l2_conv_kernels,
        eval_names=tuple(rebuild["eval_names"]),
        channels_last=cfg.model.channels_last,
        rebuild=rebuild,
    )


# ------------------------------------------------------------------------------ run folders
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
    run_dir = Path(run_dir).expanduser()
    if not run_dir.is_dir():
        raise RunLoadError(f"run_dir={str(run_dir)!r}: no such folder")
    record = read_run(run_dir)
    cfg, source = _saved_config(run_dir, record)
    _check_finished(run_dir, record, allow_unfinished)
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
    classifier = build_classifier(cfg, datamodule, strategy)
    state = _read_checkpoint(path)
    _load_weights(classifier, state["state_dict"], path, cfg)
    classifier.to(device).eval()
    datamodule.setup("validate")
    if torch.device(device).type != "cpu":
        for name, (images, labels) in datamodule.on_device.items():
            datamodule.on_device[name] = (images.to(device), labels.to(device))
    return LoadedRun(run_dir, cfg, source, record, path, state.get("epoch"), state.get("global_step"), classifier, datamodule)


def resolve_checkpoint(run_dir: Path, checkpoint: str | Path) -> Path:
    """The checkpoint file that `checkpoint` ("last", "best" or a path) names for `run_dir`."""
    name = str(checkpoint)
    if name == "last":
        path = run_dir / CHECKPOINT_DIR / LAST_CHECKPOINT
        if not path.is_file():
            raise RunLoadError(
                f"{run_dir} has no {CHECKPOINT_DIR}/{LAST_CHECKPOINT}: the run ended before its first epoch did "
                "(see run.json's error), or the folder was made by another tool"
            )
        return path
    if name == "best":
        path = run_dir / CHECKPOINT_DIR / BEST_CHECKPOINT
        if not path.is_file():
            raise RunLoadError(
                f"{run_dir} has no {CHECKPOINT_DIR}/{BEST_CHECKPOINT}: this run kept no best checkpoint; "
                "use ckpt=last, or ckpt=<path to a .ckpt file>"
            )
        return path
    path = Path(name).expanduser()
    if not path.is_file():
        raise RunLoadError(f"ckpt={name!r}: no such file; accepted: {', '.join(CHECKPOINT_CHOICES)} or the path of a .ckpt file")
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
            return _HYDRA_INTERPOLATION.sub(lambda m: str(OmegaConf.select(hydra, m.group(1), default=m.group(0))), node)
        return node

    return OmegaConf.create(fill(OmegaConf.to_container(cfg, resolve=False)))


def _check_finished(run_dir: Path, record: dict[str, Any] | None, allow_unfinished: bool) -> None:
    if record is None:
        log.warning("%s has no %s: cannot tell whether the run finished", run_dir, RUN_FILE)
        return
    status = record.get("status")
    if status == "finished" or allow_unfinished:
        return
    why = {
        "running": "still training, or killed: re-run its train command to finish it",
        "interrupted": "it was stopped: re-run its train command to finish it",
        "failed": f"it failed ({record.get('error', 'no error recorded')})",
        "diverged": "its training loss became non-finite, so its weights are not a trained model",
    }.get(str(status), "unknown status")
    raise RunLoadError(f"{run_dir}: the run is not finished (status {status}: {why}); allow_unfinished=true loads its checkpoint anyway")


def _read_checkpoint(path: Path) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated file, not a checkpoint, foreign pickle
        raise RunLoadError(f"{path}: cannot read the checkpoint ({type(error).__name__}: {error})") from None
    if not isinstance(state, dict) or "state_dict" not in state:
        raise RunLoadError(f"{path}: not a Lightning checkpoint (no state_dict)")
    return state


def _load_weights(classifier: Classifier, state_dict: dict[str, torch.Tensor], path: Path, cfg: DictConfig) -> None:
    try:
        classifier.load_state_dict(state_dict)
    except RuntimeError as error:
        raise RunLoadError(f"{path} does not fit model={cfg.model.name} as the run configures it:\n{error}") from None


# ------------------------------------------------------------------------------ checkpoints
def classifier_from_checkpoint(path: Path, map_location: Any = "cpu") -> Classifier:
    """What `Classifier.load_from_checkpoint(path)` returns: the module rebuilt, weights loaded, eval mode."""
    if not Path(path).is_file():
        raise RunLoadError(f"{path}: no such checkpoint")
    state = _read_checkpoint(path)
    rebuild = state.get("trainfix", {}).get("rebuild") or _rebuild_from_run_folder(path)
    cfg = OmegaConf.create(rebuild["config"])
    classifier = _classifier(cfg, instantiate(cfg.strategy), rebuild)
    _load_weights(classifier, state["state_dict"], path, cfg)
    return classifier.to(map_location).eval()


def _rebuild_from_run_folder(path: Path) -> dict[str, Any]:
    """Rebuild information for checkpoints saved before it was stored in them: the run.json beside checkpoints/."""
    run_dir = path.resolve().parent.parent
    record = read_run(run_dir)
    if record is None or "config" not in record or "data" not in record:
        raise RunLoadError(
            f"{path} holds no run configuration (saved before trainfix stored it in checkpoints) and {run_dir / RUN_FILE} "
            "is missing or incomplete; load it with trainfix.load_run(<run folder>) instead"
        )
    config, data = record["config"], record["data"]
    channels, size, _ = data["input_shape"]
    model = config["model"]
    net = NetSpec(model["name"], data["num_classes"], channels, size, model.get("params") or {}, model.get("init") or "default",
                  float(model.get("input_noise_std") or 0.0))
    names = instantiate(OmegaConf.create(config).data).eval_names  # the constructor reads no files
    return {"config": config, "net": asdict(net), "eval_names": list(names)}
