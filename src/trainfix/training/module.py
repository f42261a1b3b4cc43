"""The one LightningModule: any network (a registry model or your own `nn.Module`), any strategy, per-sample losses.

The network returns logits; the loss is cross-entropy with `reduction="none"`; the strategy turns
the per-sample losses into the step loss (`Reduction`). The step loss is normalized by the global
batch size (times the world size, since DDP averages gradients over ranks), so a step on N devices
equals a step on one. Epoch metrics stay on the device until the epoch ends (no host sync per step).

Metrics reach Lightning's loggers through `self.log_dict`, once per epoch, with the epoch as the
loggers' step (`log_epoch`, called with the epoch record). Each evaluation set also has best-so-far
values (`<set>_acc_best`, `<set>_loss_best`) that EarlyStopping and ModelCheckpoint can monitor.

Used on its own (docs/own_model.md: your network, a strategy, an `ImageDataModule`, a plain
`pl.Trainer`), it drives the strategy itself (`configure_callbacks` adds a `StrategyDriver` unless the
trainer has one) and keeps each epoch's record in `history` (train.py's `RunRecorder` writes them to
metrics.csv instead).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torchmetrics import MaxMetric, MeanMetric, MinMetric
from torchmetrics.classification import MulticlassAccuracy

from trainfix.core.seeding import global_rng_state, restore_global_rng_state
from trainfix.models.spec import NetSpec
from trainfix.strategies.base import Reduction, Strategy
from trainfix.training.callbacks.strategy_driver import StrategyDriver
from trainfix.training.rebuild import RunLoadError, load_weights, read_checkpoint, rebuild_from_run_folder, rebuild_info

if TYPE_CHECKING:
    from trainfix.data.datamodule import ImageDataModule

# Under DDP Lightning suggests sync_dist=True for epoch-level values; those logged here are already
# synced over ranks by torchmetrics (identical on every rank), so syncing again would only cost time.
warnings.filterwarnings("ignore", message=r"It is recommended to use `self.log\(.*sync_dist=True\)")


def conv_kernels(net: nn.Module) -> list[torch.Tensor]:
    """The kernels of every convolution (what Keras' `kernel_regularizer=l2(...)` covers in the papers' models)."""
    return [m.weight for m in net.modules() if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Conv3d)]


class StepLoss(NamedTuple):
    """One training step's loss (with gradient), the logits, the per-sample losses and the strategy's reduction."""

    loss: torch.Tensor
    logits: torch.Tensor
    losses: torch.Tensor
    reduction: Reduction


class Classifier(pl.LightningModule):
    """Trains `net` with `strategy`; records per-epoch loss, accuracy and gradient norms.

    Args:
        net: any `nn.Module` returning logits [N, num_classes] (a registry model or your own).
        strategy: the batch planning / loss reduction strategy.
        num_classes: number of classes (for accuracy).
        optimizer: a partial optimizer constructor (Hydra `_partial_: true`) taking the parameters.
        scheduler: optional partial LR-scheduler constructor taking the optimizer.
        scheduler_interval: "step" or "epoch": when the scheduler steps.
        scheduler_monitor: the evaluation metric a scheduler that reads one steps on (ReduceLROnPlateau:
            "test_loss" or "val_loss"); None for the others. Such a scheduler is stepped here, at the end
            of each training epoch's validation (Keras' on_epoch_end), not by Lightning: Lightning steps
            it after every on_train_epoch_end hook, so checkpoints/last.ckpt (written in one) would hold
            its state from before the step and a resumed run would miss that step.
        l2_conv_kernels: coefficient of `sum ||W||^2` over convolution kernels added to the loss
            (Keras L2 regularizer semantics, as in the DeepEutaxy ResNets: 1e-4). 0 disables it.
        eval_names: names of the evaluation sets, in the order of the validation dataloaders.
        channels_last: use the channels_last memory format for convolutions (GPU speed).
        rebuild: what rebuilding this module needs without its data: {"config": the resolved run
            configuration, "net": the network's build arguments (`trainfix.models.spec.NetSpec`),
            "eval_names": ...}. Saved in every checkpoint, so that
            `Classifier.load_from_checkpoint(path)` needs nothing else (see docs/evaluation.md).
    """

    def __init__(
        self,
        net: nn.Module,
        strategy: Strategy,
        num_classes: int,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        scheduler_interval: str = "step",
        scheduler_monitor: str | None = None,
        l2_conv_kernels: float = 0.0,
        eval_names: tuple[str, ...] = ("test",),
        channels_last: bool = False,
        rebuild: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.rebuild = rebuild
        self.net = net
        self.strategy = strategy
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval
        self.scheduler_monitor = scheduler_monitor
        self.metric_scheduler: Any = None  # the scheduler stepped on `scheduler_monitor`
        self._metric_scheduler_state: dict[str, Any] | None = None  # from a checkpoint, loaded once it exists
        self._lr_before_metric_step: float | None = None
        self.l2_conv_kernels = l2_conv_kernels
        self.eval_names = tuple(eval_names)
        self.channels_last = channels_last
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)

        # nan_strategy="disable": no per-step NaN check (a host sync), and a NaN loss reaches the
        # epoch mean, where the recorder marks the run diverged instead of silently dropping it.
        # validate_args=False: no per-step input validation either.
        self.train_loss = MeanMetric(nan_strategy="disable")
        self.train_acc = MulticlassAccuracy(num_classes=num_classes, average="micro", validate_args=False)
        self.eval_loss = nn.ModuleList(MeanMetric(nan_strategy="disable") for _ in self.eval_names)
        self.eval_acc = nn.ModuleList(
            MulticlassAccuracy(num_classes=num_classes, average="micro", validate_args=False) for _ in self.eval_names
        )
        self.register_buffer("grad_norm_sum", torch.zeros(()), persistent=False)
        self.register_buffer("grad_norm_last", torch.zeros(()), persistent=False)
        self.register_buffer("grad_norm_steps", torch.zeros((), dtype=torch.long), persistent=False)
        self.register_buffer("samples_seen", torch.zeros((), dtype=torch.long))
        # Best-so-far per evaluation set. Their states are not persistent (checkpoints keep their
        # old layout); after a resume `restore_best` replays the recorded epochs instead.
        self.best = nn.ModuleDict(
            {f"{name}_acc_best": MaxMetric(nan_strategy="ignore") for name in self.eval_names}
            | {f"{name}_loss_best": MinMetric(nan_strategy="ignore") for name in self.eval_names}
        )
        self.eval_results: dict[str, float] = {}
        self.eval_best: dict[str, float] = {}
        # set by measuring callbacks (e.g. grad_norm_full), recorded once, in the epoch's row (epoch_row)
        self.extra_epoch_metrics: dict[str, float] = {}
        self.skip_this_step = False
        self._buffers_before_step: list[torch.Tensor] = []
        self.history: list[dict[str, Any]] = []  # epoch records when no RunRecorder makes them (on_train_epoch_end)

    def configure_callbacks(self) -> list[pl.Callback]:
        """A `StrategyDriver` for this module's strategy, unless the trainer has one (train.py adds its own)."""
        if any(isinstance(c, StrategyDriver) for c in self.trainer.callbacks):
            return []
        return [StrategyDriver(self.strategy)]

    def on_train_epoch_end(self) -> None:
        """The epoch record, in `history` and to the loggers, when no `RunRecorder` made it (it runs first and
        resets the training metrics): what a plain `pl.Trainer` gets (docs/own_model.md)."""
        if not self.train_loss.update_count:
            return
        row = self.epoch_row()
        self.history.append(row)
        self.log_epoch(row)

    def epoch_row(self) -> dict[str, Any]:
        """The record of the epoch that just ended, each part taken once: the training summary (its accumulators
        reset), the evaluation results, the strategy's metrics and the measuring callbacks' (`extra_epoch_metrics`)."""
        row: dict[str, Any] = {"epoch": self.current_epoch, "global_step": self.trainer.global_step}
        row.update(self.train_epoch_summary())
        row.update(self.eval_results)
        row.update(getattr(self, "strategy_epoch_metrics", {}) or {})
        row.update(self.extra_epoch_metrics)  # e.g. grad_norm_full
        self.eval_results = {}
        self.extra_epoch_metrics = {}
        return row

    # ------------------------------------------------------------------ training
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        x, y = batch["x"], batch["y"]
        # The train-mode forward moves BatchNorm statistics; a step that selects no sample must leave
        # the network exactly as it was, so its buffers are kept to be put back (one multi-tensor
        # device copy into storage allocated once; no host sync).
        buffers = list(self.net.buffers())
        if len(self._buffers_before_step) != len(buffers) or any(
            a.device != b.device for a, b in zip(self._buffers_before_step, buffers)
        ):
            self._buffers_before_step = [b.clone() for b in buffers]
        elif buffers:
            torch._foreach_copy_(self._buffers_before_step, buffers)
        step = self.step_loss(x, y, batch["indices"], batch["global_size"], self.trainer.world_size)
        self.skip_this_step = False
        if step.reduction.skip_if_all_zero:
            # One host sync per step, only for strategies that can select nothing (SPL).
            selected = self.trainer.strategy.reduce(step.reduction.weights.detach().sum().float(), reduce_op="sum")
            self.skip_this_step = bool(selected == 0)

        self.train_loss.update(step.losses.detach())
        self.train_acc.update(step.logits.detach(), y)
        if not self.skip_this_step:
            self.samples_seen += batch["global_size"]
        return step.loss

    def step_loss(
        self, x: torch.Tensor, y: torch.Tensor, indices: torch.Tensor, global_size: int, world_size: int = 1
    ) -> StepLoss:
        """The loss a training step minimizes: the per-sample cross-entropy, reduced by the strategy
        (`Reduction`), normalized by the global batch size (times `world_size`: DDP averages gradients
        over ranks), plus `l2_conv_kernels` times the squared convolution kernels. `training_step` and
        Apricot's retraining (`trainfix.procedures.apricot.retrain`) both train on it."""
        logits = self(x)
        losses = F.cross_entropy(logits.float(), y, reduction="none")
        reduction = self.strategy.reduce_loss(losses.detach(), indices, global_size)
        per_sample = losses if reduction.transform is None else reduction.transform(losses)
        weighted = per_sample if reduction.weights is None else per_sample * reduction.weights
        loss = weighted.sum() * (world_size / global_size)
        if self.l2_conv_kernels:
            loss = loss + self.l2_conv_kernels * sum(w.pow(2).sum() for w in conv_kernels(self.net))
        return StepLoss(loss, logits, losses, reduction)

    def on_train_epoch_start(self) -> None:
        self._lr_before_metric_step = None
        self.grad_norm_sum.zero_()
        self.grad_norm_last.zero_()
        self.grad_norm_steps.zero_()

    def optimizer_step(
        self, epoch: int, batch_idx: int, optimizer: Any, optimizer_closure: Callable[[], Any] | None = None
    ) -> None:
        """The usual step, except that a step whose strategy selected no sample makes no update: no
        weight, optimizer-state or BatchNorm-buffer change (the dropout RNG stream is still consumed)."""
        optimizer_closure()  # forward, loss and backward (training_step)
        if not self.skip_this_step:
            optimizer.step()
            return
        with torch.no_grad():  # after backward: autograd still needed the buffers' versions until then
            for buffer, saved in zip(self.net.buffers(), self._buffers_before_step, strict=True):
                buffer.copy_(saved)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.skip_this_step:
            return
        grads = [p.grad for p in self.net.parameters() if p.grad is not None]
        if not grads:
            return
        norm = torch.nn.utils.get_total_norm(grads)  # L2 over all parameters, one fused kernel per device
        self.grad_norm_sum += norm
        self.grad_norm_last.copy_(norm)
        self.grad_norm_steps += 1

    def train_epoch_summary(self) -> dict[str, float]:
        """Epoch metrics of the training pass (synced over ranks); resets the accumulators."""
        steps = int(self.grad_norm_steps)
        summary = {
            "train_loss": float(self.train_loss.compute()),
            "train_acc": float(self.train_acc.compute()),
            # NaN when the epoch made no optimizer step (SPL selected nothing): no update, no norm.
            "grad_norm_mean": float(self.grad_norm_sum) / steps if steps else math.nan,
            "grad_norm_last": float(self.grad_norm_last) if steps else math.nan,
            "samples_seen": int(self.samples_seen),
            "lr": self.current_lr(),
        }
        self.train_loss.reset()
        self.train_acc.reset()
        return summary

    def current_lr(self) -> float:
        """The learning rate the last step used (Adagrad's time decay included)."""
        if self._lr_before_metric_step is not None:  # the metric scheduler has already set the next epoch's
            return self._lr_before_metric_step
        optimizer = self.optimizers()
        optimizer = getattr(optimizer, "optimizer", optimizer)
        group = optimizer.param_groups[0]
        lr = float(group["lr"])
        decay = group.get("lr_decay", 0.0)
        if decay:
            state = optimizer.state.get(group["params"][0], {})
            steps_done = float(state.get("step", 0.0))  # the last update used steps_done - 1
            lr = lr / (1 + max(steps_done - 1, 0.0) * decay)
        return lr

    # ---------------------------------------------------------------- evaluation
    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        logits = self(batch["x"])
        losses = F.cross_entropy(logits.float(), batch["y"], reduction="none")
        self.eval_loss[dataloader_idx].update(losses)
        self.eval_acc[dataloader_idx].update(logits, batch["y"])

    def on_validation_epoch_end(self) -> None:
        self.eval_results = {}
        for name, loss, acc in zip(self.eval_names, self.eval_loss, self.eval_acc, strict=True):
            if loss.update_count:
                self.eval_results[f"{name}_loss"] = float(loss.compute())
                self.eval_results[f"{name}_acc"] = float(acc.compute())
            loss.reset()
            acc.reset()
        if self.trainer.sanity_checking:
            return
        self.eval_best = self._update_best(self.eval_results)
        # Monitoring callbacks (EarlyStopping, ModelCheckpoint with `*_on_train_epoch_end: false`) read
        # these at validation end, before checkpoints/last.ckpt is written, so a resume restores their
        # current state. Loggers get the same values with the whole epoch row (`log_epoch`).
        self.log_dict({**self.eval_results, **self.eval_best}, logger=False, add_dataloader_idx=False)
        if self.metric_scheduler is not None and self.trainer.state.fn == "fit":
            self._step_metric_scheduler()

    def _step_metric_scheduler(self) -> None:
        if self.scheduler_monitor not in self.eval_results:
            raise KeyError(
                f"scheduler.monitor={self.scheduler_monitor!r}: not computed this epoch; computed: "
                f"{sorted(self.eval_results)}"
            )
        self._lr_before_metric_step = self.current_lr()
        self.metric_scheduler.step(self.eval_results[self.scheduler_monitor])

    # ------------------------------------------------------------------ logging
    def _update_best(self, results: dict[str, float]) -> dict[str, float]:
        best = {}
        for key, value in results.items():
            tracker = self.best[f"{key}_best"]
            tracker.update(value)
            best[f"{key}_best"] = float(tracker.compute())
        return best

    def restore_best(self, rows: list[dict[str, Any]]) -> None:
        """Rebuild the best-so-far values from the recorded epochs (after a resume)."""
        for tracker in self.best.values():
            tracker.reset()
        self.eval_best = {}
        for row in rows:
            results = {
                k: row[k]
                for k in row
                if f"{k}_best" in self.best and isinstance(row[k], Real) and not math.isnan(row[k])
            }
            self.eval_best = self._update_best(results) or self.eval_best

    def log_epoch(self, row: dict[str, Any]) -> None:
        """Log the epoch record (and best-so-far values) through Lightning, with the epoch as the step.

        Call from an `on_train_epoch_end` hook. Lightning stores logged values as float32 tensors, so
        the loggers get the record's numbers to float32 precision (losses and accuracies, computed in
        float32, exactly).
        """
        numbers = {k: float(v) for k, v in row.items() if isinstance(v, Real)}
        numbers.update(self.eval_best)
        numbers["step"] = float(row["epoch"])  # the loggers' x-axis: epochs, not optimizer steps
        on_bar = {k: numbers.pop(k) for k in ("train_loss", "train_acc") if k in numbers}
        self.log_dict(on_bar, prog_bar=True, on_step=False, on_epoch=True)
        self.log_dict(numbers, on_step=False, on_epoch=True)

    # ------------------------------------------------------------ optimization
    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(params=self.net.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        if self.scheduler_monitor:  # stepped in on_validation_epoch_end, its state in checkpoint["trainfix"]
            self.metric_scheduler = scheduler
            if self._metric_scheduler_state is not None:
                scheduler.load_state_dict(self._metric_scheduler_state)
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": self.scheduler_interval}}

    # -------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["trainfix"] = {"strategy": self.strategy.state_dict(), "rng": global_rng_state()}
        if self.metric_scheduler is not None:
            checkpoint["trainfix"]["metric_scheduler"] = self.metric_scheduler.state_dict()
        if self.rebuild is not None:
            checkpoint["trainfix"]["rebuild"] = self.rebuild

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: str | Path, map_location: Any = "cpu", **unused: Any) -> Classifier:  # type: ignore[override]
        """The module of a trainfix checkpoint, weights loaded, in eval mode, on `map_location`.

        Lightning's own version calls `__init__` with saved hyper-parameters, but the network, strategy
        and optimizer factories are objects, not hyper-parameters: this one rebuilds them from the run
        configuration saved in the checkpoint (or, for checkpoints older than that, from the run.json of
        the run folder holding `checkpoints/`). The strategy's state and the global RNG states are not
        restored (they matter only to resume training, which `python -m trainfix.train` does).
        """
        if unused:
            raise TypeError(
                f"Classifier.load_from_checkpoint rebuilds from the checkpoint; it takes no {sorted(unused)}"
            )
        path = Path(checkpoint_path)
        if not path.is_file():
            raise RunLoadError(f"{path}: no such checkpoint")
        state = read_checkpoint(path)
        rebuild = state.get("trainfix", {}).get("rebuild") or rebuild_from_run_folder(path)
        cfg = OmegaConf.create(rebuild["config"])
        classifier = cls.from_rebuild(cfg, instantiate(cfg.strategy), rebuild)
        load_weights(classifier, state["state_dict"], path, cfg)
        return classifier.to(map_location).eval()

    @classmethod
    def from_config(
        cls, cfg: DictConfig, datamodule: ImageDataModule, strategy: Strategy, config: dict[str, Any] | None = None
    ) -> Classifier:
        """The module of the run configured by `cfg` for the data of `datamodule`, untrained; `config`
        is the resolved configuration its checkpoints carry (default: `cfg` resolved). train.py builds
        every run's module here, so a rebuilt run is built the same way."""
        config = config if config is not None else OmegaConf.to_container(cfg, resolve=True)
        return cls.from_rebuild(cfg, strategy, rebuild_info(cfg, datamodule, config))

    @classmethod
    def from_rebuild(cls, cfg: DictConfig, strategy: Strategy, rebuild: dict[str, Any]) -> Classifier:
        """The module of `cfg` with the network `rebuild["net"]` describes (see `trainfix.training.rebuild`)."""
        net = NetSpec(**rebuild["net"])
        scheduler_cfg = cfg.scheduler.get("scheduler")
        return cls(
            net=net.build(),
            strategy=strategy,
            num_classes=net.num_classes,
            optimizer=instantiate(cfg.optimizer),
            scheduler=instantiate(scheduler_cfg) if scheduler_cfg is not None else None,
            scheduler_interval=cfg.scheduler.get("interval", "step"),
            scheduler_monitor=cfg.scheduler.get("monitor"),
            l2_conv_kernels=cfg.model.get("l2_conv_kernels", 0.0),  # a model config of your own may leave them out
            eval_names=tuple(rebuild["eval_names"]),
            channels_last=cfg.model.get("channels_last", False),
            rebuild=rebuild,
        )

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["trainfix"]
        # Lightning restores the module before it calls configure_optimizers (kept until the scheduler
        # exists), except under strategies that restore after setup (then the scheduler exists already).
        self._metric_scheduler_state = state.get("metric_scheduler")
        if self.metric_scheduler is not None and self._metric_scheduler_state is not None:
            self.metric_scheduler.load_state_dict(self._metric_scheduler_state)
        self.strategy.load_state_dict(state["strategy"])
        restore_global_rng_state(state["rng"])
