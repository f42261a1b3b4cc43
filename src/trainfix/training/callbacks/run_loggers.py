"""What experiment loggers (W&B, TensorBoard, MLflow) get besides the epoch metrics.

The epoch metrics reach every logger through Lightning (`Classifier.log_epoch`). This module adds:

- every logger: the resolved run configuration, flattened (`data.batch_size`, `optimizer.lr`, ...),
  and the facts on the data actually loaded (`data_loaded.num_train`, ...), as its hyper-parameters;
- MLflow: `mlflow_logger`, a local file store per run folder by default;
- W&B: one W&B run per trainfix run, named after its run folder. `wandb_logger` reuses the id that
  run.json keeps (`wandb_id`) with `resume="allow"`, so a resumed run continues the same W&B run
  (offline, each attempt writes its own `wandb/offline-run-*` folder with that id; `wandb sync` joins
  them); its mode follows `trainfix.training.logger_setup.wandb_mode`. Every metric is charted against
  `epoch` (`use_epoch_axis`). At the end the W&B summary (which keeps the last logged value of every
  metric: the final epoch's and the best-so-far `<set>_acc_best`) gets the run's status (finished /
  diverged / failed, as in run.json) and the epoch of each best value; with `log_model`, a finished
  run without a ModelCheckpoint logs `checkpoints/last.ckpt` as its model artifact.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytorch_lightning as pl
from pytorch_lightning.loggers import MLFlowLogger, WandbLogger

from trainfix.core.records import CHECKPOINT_DIR, LAST_CHECKPOINT, best_epoch, read_metrics, read_run
from trainfix.training.logger_setup import wandb_mode

log = logging.getLogger(__name__)


def wandb_logger(
    save_dir: str,
    tags: list[str] = (),
    run_tags: list[str] = (),
    name: str | None = None,
    mode: str | None = None,
    offline: bool | None = None,
    **kwargs: Any,
) -> WandbLogger:
    """A `WandbLogger` for the run in `save_dir` (the run folder): the W&B id saved in its run.json
    when there is one (a resume), else a new id; named after the run folder unless `name` is given;
    `tags` (the user's) and `run_tags` (profile, strategy, variant, seed, model, data) together.

    `mode`: online | offline | disabled, or None: offline unless WANDB_MODE is set or W&B credentials
    are found (`trainfix.training.logger_setup.wandb_mode`). `offline` is the older spelling
    (true = offline, false = online). Other arguments (`entity`, `project`, `group`, `log_model`, ...)
    go to `WandbLogger` / `wandb.init`."""
    if mode is None and offline is not None:
        mode = "offline" if offline else "online"
    mode, why = wandb_mode(mode)
    log.info("W&B mode: %s", why)
    previous = read_run(Path(save_dir)) or {}
    run_id = previous.get("wandb_id") or uuid.uuid4().hex[:12]  # W&B ids: lowercase letters and digits
    logger = WandbLogger(
        save_dir=save_dir,
        id=run_id,
        resume="allow",
        name=name or Path(save_dir).name,
        tags=[*tags, *run_tags],
        **({"mode": mode} if mode else {}),
        **kwargs,
    )
    if logger._wandb_init.get("anonymous") is None:  # wandb warns that the setting is gone when it is passed at all
        logger._wandb_init.pop("anonymous", None)
    return logger


def use_epoch_axis(run: Any) -> None:
    """Put every metric of a W&B run on the `epoch` axis (0-based, as in metrics.csv), so all its charts
    share one x-axis. Lightning's WandbLogger defines `trainer/global_step` as the axis; trainfix logs
    the epoch as Lightning's step, so that column repeats the epoch and is hidden."""
    run.define_metric("epoch")
    run.define_metric("*", step_metric="epoch", step_sync=True, overwrite=True)
    run.define_metric("trainer/global_step", step_metric="epoch", hidden=True, overwrite=True)


def log_checkpoint_artifact(run: Any, run_dir: Path) -> None:
    """Log the run's `checkpoints/last.ckpt` as the W&B model artifact `model-<run id>` (alias `latest`),
    as Lightning's WandbLogger(log_model=True) does for a ModelCheckpoint's files, with the epoch, the
    status and the last row's metrics as metadata. Offline, `wandb sync` uploads it with the run."""
    import wandb

    path = Path(run_dir) / CHECKPOINT_DIR / LAST_CHECKPOINT
    if not path.exists():
        return
    metrics = read_metrics(run_dir)
    row = metrics.iloc[-1].to_dict() if len(metrics) else {}
    last = {k: v.item() if hasattr(v, "item") else v for k, v in row.items() if pd.notna(v)}
    metadata = {"original_filename": LAST_CHECKPOINT, "status": (read_run(run_dir) or {}).get("status"), **last}
    artifact = wandb.Artifact(name=f"model-{run.id}", type="model", metadata=metadata)
    artifact.add_file(str(path), name="model.ckpt")
    run.log_artifact(artifact, aliases=["latest"])


def mlflow_logger(save_dir: str, tracking_uri: str | None = None, **kwargs: Any) -> MLFlowLogger:
    """An `MLFlowLogger` on a local file store in `save_dir` (or on `tracking_uri`, e.g. a database).

    MLflow 3 refuses its file store unless MLFLOW_ALLOW_FILE_STORE=true ("maintenance mode"); a file
    store per run folder needs no server and no database, so that opt-in is set here when the file
    store is used and the user has not set the variable.
    """
    if tracking_uri is None:
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return MLFlowLogger(save_dir=save_dir, tracking_uri=tracking_uri, **kwargs)


def flat_run_config(config: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The run configuration and data facts as one flat dict with dotted keys."""
    return pd.json_normalize({**config, "data_loaded": data}, sep=".").iloc[0].to_dict()


class RunLoggers(pl.Callback):
    """Gives the trainer's loggers the run configuration at start and, for W&B, the outcome at the end.

    Place it after `RunRecorder`: the W&B summary reads the status the recorder has just written.

    Args:
        run_dir: the run folder (run.json, metrics.csv).
        config: the resolved run configuration (a plain dict).
        data: facts on the data actually loaded.
    """

    def __init__(self, run_dir: Path, config: dict[str, Any], data: dict[str, Any]) -> None:
        self.run_dir = Path(run_dir)
        self.params = flat_run_config(config, data)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for logger in trainer.loggers:
            logger.log_hyperparams(self.params)
            if isinstance(logger, WandbLogger) and trainer.is_global_zero:
                use_epoch_axis(logger.experiment)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._summarize(trainer, pl_module)
        if trainer.is_global_zero and not trainer.checkpoint_callbacks:  # else Lightning logs ModelCheckpoint's files
            for logger in trainer.loggers:
                if isinstance(logger, WandbLogger) and logger._log_model:
                    log_checkpoint_artifact(logger.experiment, self.run_dir)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._summarize(trainer, pl_module)

    def _summarize(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        wandb_loggers = [logger for logger in trainer.loggers if isinstance(logger, WandbLogger)]
        if not wandb_loggers or not trainer.is_global_zero:
            return
        # W&B's summary already holds the last logged value of each metric: the final epoch's values
        # and the best-so-far `<set>_acc_best` / `<set>_loss_best`. Added here: how the run ended and
        # at which epoch (0-based, the x-axis) each best value was reached.
        record = read_run(self.run_dir) or {}
        metrics = read_metrics(self.run_dir)
        summary: dict[str, Any] = {"status": record.get("status"), "epochs_completed": len(metrics)}
        for name in pl_module.eval_names:
            for column in (f"{name}_acc", f"{name}_loss"):
                if (best := best_epoch(metrics, column)) is not None:
                    summary[f"{column}_best_epoch"] = best[1]
        for logger in wandb_loggers:
            logger.experiment.summary.update(summary)
