"""Train one configuration, or a sweep of them, and write the run's records.

    python -m trainfix.train                                   # conf/train.yaml defaults
    python -m trainfix.train data=fashion_mnist model=lenet5 strategy=shuffle optimizer=adam \
        optimizer.lr=0.001 data.batch_size=128 trainer.max_epochs=1
    python -m trainfix.train -m seed=0,1,2 strategy=baseline,shuffle          # multirun
    python -m trainfix.train -m hydra/launcher=joblib seed=0,1                # runs side by side
    python -m trainfix.train trainer=ddp trainer.devices=4                     # DDP on 4 GPUs

Each run lives in a folder named from its configuration (`runs/<task_name>/<run_name>/`, or
`multirun/<task_name>/<run_name>/` in a sweep): a finished run is skipped when invoked again, an
interrupted one resumes from its last epoch checkpoint.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from trainfix.callbacks.checkpoint import LastCheckpoint
from trainfix.config_rules import check_config
from trainfix.callbacks.convergence import Convergence
from trainfix.data.datamodule import ImageDataModule
from trainfix.models import build_model
from trainfix.models.classifier import Classifier
from trainfix.runs.records import now_iso, read_metrics, write_run
from trainfix.callbacks.recorder import RunRecorder
from trainfix.runs.folder import RunAction, decide
from trainfix.runs.seeding import seed_everything
from trainfix.callbacks.strategy_driver import StrategyDriver

log = logging.getLogger(__name__)

# Noise that says nothing about the run: Lightning's product advert and a torch-version deprecation
# inside Lightning's own code.
logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(lambda record: "litlogger" not in record.getMessage())
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")


def train(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Build everything from `cfg` and fit; returns (last epoch's metrics, built objects)."""
    check_config(cfg)
    run_dir = Path(cfg.paths.output_dir)
    config = OmegaConf.to_container(cfg, resolve=True)
    action = decide(run_dir, config)
    if action.kind == "skip":
        log.info("Skipping %s: %s", run_dir, action.reason)
        return _last_row(run_dir), {"run_dir": run_dir, "action": action}
    if action.reason:
        log.info(action.reason)

    seed_everything(cfg.seed)
    torch.use_deterministic_algorithms(bool(cfg.deterministic), warn_only=True)
    try:
        trainer, module, datamodule = _build(cfg, run_dir, config, action)
    except Exception as error:
        # Recorded, so a table shows this cell as failed (or "data missing") rather than absent.
        write_run(run_dir, {"status": "failed", "config": config, "seed": cfg.seed, "error": f"{type(error).__name__}: {error}", "end_time": now_iso()})
        raise
    loggers = trainer.loggers
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(action.checkpoint) if action.checkpoint else None)
    finally:
        if any(type(lg).__name__ == "WandbLogger" for lg in loggers):
            import wandb

            wandb.finish()
        log.info("Run folder: %s", run_dir.resolve())
    return _last_row(run_dir), {"run_dir": run_dir, "action": action, "trainer": trainer, "module": module, "datamodule": datamodule}


def _build(cfg: DictConfig, run_dir: Path, config: dict[str, Any], action: RunAction) -> tuple[pl.Trainer, Classifier, ImageDataModule]:
    """Strategy, data, model, callbacks, loggers and trainer, in that order."""
    log.info("Instantiating strategy <%s>", cfg.strategy._target_)
    strategy = instantiate(cfg.strategy)

    log.info("Instantiating datamodule <%s> for %s", cfg.data._target_, cfg.data.dataset)
    datamodule: ImageDataModule = instantiate(cfg.data)
    datamodule.attach(strategy, cfg.seed)
    data_facts = datamodule.describe()
    log.info("Data: %s", data_facts)

    log.info("Instantiating model <%s>", cfg.model.name)
    channels, height, width = datamodule.input_shape
    if height != width:
        raise ValueError(f"data={cfg.data.dataset} has non-square images ({height}x{width}); the models accept square images")
    net = build_model(cfg.model.name, num_classes=datamodule.num_classes, in_channels=channels, image_size=height, **cfg.model.params)
    scheduler_cfg = cfg.scheduler.get("scheduler")
    module = Classifier(
        net=net,
        strategy=strategy,
        num_classes=datamodule.num_classes,
        optimizer=instantiate(cfg.optimizer),
        scheduler=instantiate(scheduler_cfg) if scheduler_cfg is not None else None,
        scheduler_interval=cfg.scheduler.get("interval", "step"),
        l2_conv_kernels=cfg.model.l2_conv_kernels,
        eval_names=datamodule.eval_names,
        channels_last=cfg.model.channels_last,
    )
    if cfg.init_from and action.kind == "new":
        _load_network_weights(module, Path(cfg.init_from))

    log.info("Instantiating callbacks and loggers")
    recorder = RunRecorder(run_dir, config, data_facts, cfg.seed)
    convergence = Convergence(run_dir, **cfg.convergence)
    callbacks: list[pl.Callback] = [StrategyDriver(strategy), *convergence.measurements(), recorder, convergence, LastCheckpoint(run_dir)]
    callbacks += [instantiate(c) for c in (cfg.callbacks or {}).values()]
    loggers = [instantiate(c) for c in (cfg.logger or {}).values()]

    log.info("Instantiating trainer <%s>", cfg.trainer._target_)
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, default_root_dir=str(run_dir))
    return trainer, module, datamodule


def _load_network_weights(module: Classifier, checkpoint: Path) -> None:
    """Start from the network weights of another run's checkpoint (optimizer and strategy start fresh,
    as the authors' code does when it loads the SPL model for Table VII)."""
    if not checkpoint.exists():
        raise FileNotFoundError(
            f"init_from={checkpoint}: no such checkpoint. For DeepEutaxy Table VII, run Table IV's SPL runs of the same "
            "profile, variant and seed first (make reproduce-table-iv)."
        )
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    net_state = {key.removeprefix("net."): value for key, value in state.items() if key.startswith("net.")}
    module.net.load_state_dict(net_state)
    log.info("Network weights from %s", checkpoint)


CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def compose_config(overrides: list[str], output_dir: Path) -> DictConfig:
    """conf/train.yaml composed with `overrides` as `python -m trainfix.train` would, writing its run
    to `output_dir`: for notebooks, benchmarks and tests that call `train(cfg)` in-process."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("train.yaml", overrides=list(overrides), return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        del cfg["hydra"]
    return cfg


def _last_row(run_dir: Path) -> dict[str, Any]:
    metrics = read_metrics(run_dir)
    return metrics.iloc[-1].to_dict() if len(metrics) else {}


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train.yaml")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point. In a multirun, a failed job is logged and the sweep goes on."""
    try:
        metrics, _ = train(cfg)
    except Exception:
        if HydraConfig.get().mode == RunMode.MULTIRUN and not cfg.get("fail_fast_in_sweeps", False):
            log.exception("Run failed; the sweep continues (its run.json says failed)")
            return None
        raise
    value = metrics.get(cfg.get("optimized_metric", "test_acc"))
    return float(value) if value is not None else None


if __name__ == "__main__":
    main()
