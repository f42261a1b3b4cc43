"""The AutoTrainer-style training monitor as a Lightning callback (`monitor=autotrainer`, usable on any run).

Each epoch it records what the detectors need; at the epochs its schedule names it runs the detectors
(`detectors.diagnose`) and, on a problem, records it and continues, stops, or stops for repair
(`monitor.on_detection`; the repair loop is `trainfix.monitor.repair`).

- Per-epoch records (metrics.csv columns, through the recorder): `monitor_check` (1 at a check epoch),
  and at check epochs (every epoch with `record_every_epoch`) the check gradient's statistics:
  `monitor_grad_ratio` (first/last kernel norm), `monitor_grad_first`, `monitor_grad_last`,
  `monitor_zero_share` (exactly-zero gradient entries), `monitor_zero_share_no_input` (the same without
  the first layer's kernel), `monitor_dead_relu` (ReLU units whose output is zero on every sample of the
  check batch), `monitor_check_s` (seconds the check took).
- `dying_relu_measure`: what the dying-ReLU detector compares with gamma: `zero_share` (AutoTrainer's
  `gradient_zero_radio`: all trainable tensors), `zero_share_no_input` (without the first layer's kernel,
  whose entries for always-zero input pixels, e.g. MNIST's border, have exactly-zero gradient in any
  network), or `dead_units` (the share of dead ReLU units).
- The check gradient is AutoTrainer's: one gradient of the mean loss on the first `gradient_batch`
  training samples (default: the training batch size, as AutoTrainer's `trainX[0:self.batch_size]`), no
  optimizer step (torch.autograd.grad: the training gradients are untouched), in
  eval mode so BatchNorm statistics do not move.
- `step_stats.enabled`: per-step gradient statistics every `every_n_steps` steps (per-kernel gradient
  norms, zero share), accumulated in device tensors and read once per epoch (no host sync per step):
  `monitor_step_grad_ratio`, `monitor_step_zero_share` (epoch means).
- `monitor.json` in the run folder (atomic write): the settings, every check (epoch, problems,
  evidence, seconds) and the detections (first epoch of each problem), rewritten after each check.
  On resume the monitor's state comes from the checkpoint (`state_dict`: the exact series, checks,
  detections), so a resumed run checks exactly as an uninterrupted one; monitor.json is rewritten
  from it (checks written after the checkpoint, by a killed process, are dropped).
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from trainfix.core.records import atomic_write_text, read_metrics
from trainfix.monitor.detectors import MID_CHECK_POINT, CheckState, Gates, GradientStats, History, Thresholds, check
from trainfix.monitor.schedules import Schedule

log = logging.getLogger(__name__)
MONITOR_FILE = "monitor.json"
DETECTION_CHECKPOINT = "detection.ckpt"
ACTIONS = ("continue", "stop", "repair")
DYING_RELU_MEASURES = ("zero_share", "zero_share_no_input", "dead_units")


def read_monitor(run_dir: Path) -> dict[str, Any] | None:
    path = Path(run_dir) / MONITOR_FILE
    return json.loads(path.read_text()) if path.exists() else None


class TrainingMonitor(pl.Callback):
    """AutoTrainer's detectors on a checking schedule. Place it after the recorder (it reads the epoch's row).

    Args:
        run_dir: the run folder (monitor.json, checkpoints/detection.ckpt).
        planned_epochs: the run's planned epochs (trainer.max_epochs): gates and schedules depend on it.
        series: the accuracy series ol_judge reads: train_acc (AutoTrainer) or val_acc (the thesis; the
            run's validation split when data.val_fraction > 0, else its test set, as Keras' validation_data).
        thresholds: `detectors.Thresholds` fields.
        gates: `detectors.Gates` fields.
        schedule: `schedules.Schedule` arguments (kind, every, segments).
        gradient_batch: samples of the check gradient; None (default): the training batch size, as AutoTrainer.
        record_every_epoch: compute the gradient statistics every epoch, not only at checks.
        step_stats: {enabled, every_n_steps}: per-step gradient statistics kept on the device.
        on_detection: continue | stop | repair (repair stops here; trainfix.monitor.repair retries).
        repair: the repair loop's settings (max_tries, initial_from), read by trainfix.monitor.repair.
        dying_relu_measure: zero_share (AutoTrainer) | zero_share_no_input | dead_units (see above).
    """

    def __init__(
        self,
        run_dir: str | Path,
        planned_epochs: int,
        series: str = "train_acc",
        thresholds: dict[str, float] | None = None,
        gates: dict[str, Any] | None = None,
        schedule: dict[str, Any] | None = None,
        gradient_batch: int | None = None,
        record_every_epoch: bool = False,
        step_stats: dict[str, Any] | None = None,
        on_detection: str = "continue",
        repair: dict[str, Any] | None = None,
        dying_relu_measure: str = "zero_share",
    ) -> None:
        if dying_relu_measure not in DYING_RELU_MEASURES:
            raise ValueError(
                f"monitor.dying_relu_measure={dying_relu_measure!r}; accepted: {', '.join(DYING_RELU_MEASURES)}"
            )
        if on_detection not in ACTIONS:
            raise ValueError(f"monitor.on_detection={on_detection!r}; accepted: {', '.join(ACTIONS)}")
        if series not in ("train_acc", "val_acc"):
            raise ValueError(f"monitor.series={series!r}; accepted: train_acc (AutoTrainer), val_acc (the thesis)")
        if gradient_batch is not None and int(gradient_batch) < 1:
            raise ValueError(
                f"monitor.gradient_batch={gradient_batch}; accepted: an integer >= 1, or null (the batch size)"
            )
        try:
            self.thresholds = Thresholds(**(thresholds or {}))
            self.gates = Gates(**(gates or {}))
        except TypeError as error:
            raise ValueError(
                f"monitor.thresholds / monitor.gates: {error}; accepted: {list(Thresholds.__dataclass_fields__)} / "
                f"{list(Gates.__dataclass_fields__)}"
            ) from None
        self.schedule = Schedule(**(schedule or {}))
        self.run_dir = Path(run_dir)
        self.planned = int(planned_epochs)
        self.series = series
        self.gradient_batch = None if gradient_batch is None else int(gradient_batch)
        self.record_every_epoch = bool(record_every_epoch)
        step_stats = dict(step_stats or {})
        self.step_stats = bool(step_stats.get("enabled", False))
        self.step_every = int(step_stats.get("every_n_steps", 1))
        if self.step_every < 1:
            raise ValueError(f"monitor.step_stats.every_n_steps={self.step_every}; accepted: an integer >= 1")
        self.on_detection = on_detection
        self.repair = dict(repair or {})
        if self.repair.get("initial_from", "scratch") not in ("scratch", "detection"):
            raise ValueError(
                f"monitor.repair.initial_from={self.repair['initial_from']!r}; accepted: scratch, detection"
            )
        self.dying_relu_measure = dying_relu_measure
        self.history = History()
        self.checks: list[dict[str, Any]] = []
        self.detections: dict[str, int] = {}
        self.state = CheckState()
        self._epoch_stats: tuple[int, GradientStats, float, float] | None = None
        self._step_sum: torch.Tensor | None = None
        self._step_zero: torch.Tensor | None = None
        self._step_count = 0
        self._restored: dict[str, Any] | None = None  # from a checkpoint (load_state_dict), used in on_train_start

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """What a resume needs, saved in every checkpoint: the series as the detectors saw them (the exact
        floats; metrics.csv holds them as text), the checks, the detections, the gradient counters, the flags
        raised so far and whether the mid check is done."""
        return {
            "history": dict(self.history.__dict__),
            "checks": self.checks,
            "detections": self.detections,
            "gradient_counts": self.state.gradient_counts,
            "flags": self.state.flags,
            "mid_check_done": self.state.mid_check_done,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restored = state_dict

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        first = trainer.current_epoch  # after a resume: the first epoch to run
        restored, self._restored = self._restored, None
        if restored is not None and len(restored["history"]["train_loss"]) == first:
            self.history = History(**{k: list(v) for k, v in restored["history"].items()})
            self.checks = list(restored["checks"])
            self.detections = dict(restored["detections"])
            self.state = CheckState(
                dict(restored["gradient_counts"]),
                dict(restored.get("flags", {})),
                bool(restored.get("mid_check_done", False)),
            )
            self._write(trainer)
            return
        # A checkpoint without monitor state (or a new run): rebuild from the records, trimmed to the
        # epochs before the checkpoint.
        rows = read_metrics(self.run_dir)
        rows = rows[rows["epoch"] < first] if len(rows) else rows
        self.history = History()
        for _, row in rows.iterrows():
            self._append(row.to_dict())
        saved = read_monitor(self.run_dir) or {}
        self.checks = [c for c in saved.get("checks", []) if c["epoch"] <= first]
        self.detections = {}
        self.state = CheckState()
        for done in self.checks:
            for problem in done["problems"]:
                self.detections.setdefault(problem, done["epoch"])
            for name in done.get("gradient_problems_seen", []):
                self.state.gradient_counts[name] = self.state.gradient_counts.get(name, 0) + 1
            self.state.flags.update({name: True for name in done.get("evidence", {}).get("flags", [])})
            self.state.mid_check_done |= done["epoch"] - 1 >= MID_CHECK_POINT * self.planned
        self._write(trainer)

    def _append(self, row: dict[str, Any]) -> None:
        val = row.get("val_acc", row.get("test_acc"))
        val_loss = row.get("val_loss", row.get("test_loss"))
        self.history.train_loss.append(float(row["train_loss"]))
        self.history.train_acc.append(float(row["train_acc"]))
        self.history.val_acc.append(float("nan") if val is None else float(val))
        # None: no evaluation this epoch (a NaN cell of metrics.csv reads the same), not a NaN loss
        self.history.val_loss.append(None if val_loss is None or val_loss != val_loss else float(val_loss))

    # ----------------------------------------------------------- step statistics
    def on_after_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.step_stats or trainer.global_step % self.step_every:
            return
        params = [p for p in pl_module.net.parameters() if p.grad is not None]
        kernels = [p.grad for p in params if p.dim() > 1]
        if not kernels:
            return
        with torch.no_grad():
            norms = torch.stack(torch._foreach_norm(kernels))
            zeros = torch.stack([(p.grad == 0).sum() for p in params]).sum()
            if self._step_sum is None or self._step_sum.shape != norms.shape:
                self._step_sum = torch.zeros_like(norms)
                self._step_zero = torch.zeros((), dtype=torch.long, device=norms.device)
            self._step_sum += norms
            self._step_zero += zeros
        self._step_count += 1

    def _step_summary(self, pl_module: pl.LightningModule) -> dict[str, float]:
        if not self.step_stats or not self._step_count or self._step_sum is None:
            return {}
        mean = (self._step_sum / self._step_count).tolist()  # the epoch's one host read
        numel = sum(p.numel() for p in pl_module.net.parameters() if p.requires_grad)
        zero_share = float(self._step_zero) / (numel * self._step_count)
        self._step_sum.zero_()
        self._step_zero.zero_()
        self._step_count = 0
        return {
            "monitor_step_grad_ratio": mean[0] / mean[-1] if mean[-1] > 0 else math.inf,
            "monitor_step_zero_share": zero_share,
        }

    # ------------------------------------------------------------ check gradient
    def check_gradient(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> tuple[GradientStats, float, float]:
        """AutoTrainer's check gradient, the share of dead ReLU units on the same batch, and the zero share
        without the first kernel. The returned statistics' zero_share is the one `dying_relu_measure` names."""
        datamodule = trainer.datamodule
        wanted = self.gradient_batch if self.gradient_batch is not None else int(datamodule.batch_size)
        count = min(wanted, int(datamodule.on_device["train"][1].shape[0]))
        x, y = datamodule.gather("train", torch.arange(count))
        net: nn.Module = pl_module.net
        params = [p for p in net.parameters() if p.requires_grad]
        relu_outputs: list[torch.Tensor] = []
        hooks = [
            m.register_forward_hook(lambda _m, _i, out: relu_outputs.append(out.detach()))
            for m in net.modules()
            if isinstance(m, nn.ReLU)
        ]
        was_training = net.training
        net.eval()
        try:
            with torch.enable_grad():
                loss = F.cross_entropy(pl_module(x).float(), y)
                grads = torch.autograd.grad(loss, params, allow_unused=True)
        finally:
            net.train(was_training)
            for hook in hooks:
                hook.remove()
        grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
        kernels = [g for p, g in zip(params, grads) if p.dim() > 1]
        with torch.no_grad():
            norms = torch.stack(torch._foreach_norm(kernels)) if kernels else torch.zeros(0)
            zero_counts = [int((g == 0).sum()) for g in grads]
            zeros = sum(zero_counts)
            first = next((i for i, p in enumerate(params) if p.dim() > 1), None)  # the first layer's kernel
            finite = all(bool(torch.isfinite(g).all()) for g in grads)
            units = [(o.reshape(o.shape[0], -1) > 0).any(0) for o in relu_outputs]
            dead = (
                1.0 - float(sum(int(u.sum()) for u in units)) / max(1, sum(u.numel() for u in units))
                if units
                else float("nan")
            )
        numel = sum(g.numel() for g in grads)
        share = zeros / max(1, numel)
        if first is None:
            no_input = share
        else:
            no_input = (zeros - zero_counts[first]) / max(1, numel - grads[first].numel())
        judged = {"zero_share": share, "zero_share_no_input": no_input, "dead_units": dead}[self.dying_relu_measure]
        return GradientStats(tuple(norms.tolist()), judged, finite), dead, (share, no_input)

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # The epoch's training is done and the weights are final for it: record here so the recorder's
        # row for this epoch carries the statistics.
        if trainer.sanity_checking or not trainer.training and trainer.state.fn != "fit":
            return
        n = trainer.current_epoch + 1
        if self._epoch_stats is not None and self._epoch_stats[0] == n:
            return
        row: dict[str, float] = {"monitor_check": float(self.schedule.is_check(n, self.planned))}
        if row["monitor_check"] or self.record_every_epoch:
            start = time.perf_counter()
            stats, dead, (share, no_input) = self.check_gradient(trainer, pl_module)
            seconds = time.perf_counter() - start
            self._epoch_stats = (n, stats, dead, seconds)
            row.update(
                monitor_grad_ratio=stats.ratio,
                monitor_grad_first=stats.kernel_norms[0] if stats.kernel_norms else math.nan,
                monitor_grad_last=stats.kernel_norms[-1] if stats.kernel_norms else math.nan,
                monitor_zero_share=share,
                monitor_zero_share_no_input=no_input,
                monitor_dead_relu=dead,
                monitor_check_s=seconds,
            )
        row.update(self._step_summary(pl_module))
        extra = getattr(pl_module, "extra_epoch_metrics", None) or {}
        pl_module.extra_epoch_metrics = {**extra, **row}

    # --------------------------------------------------------------------- check
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        row = getattr(pl_module, "epoch_record", None)
        n = trainer.current_epoch + 1
        if row is None or int(row["epoch"]) != trainer.current_epoch:
            raise RuntimeError(
                "TrainingMonitor must come after the RunRecorder in the callback list (it reads the epoch's row)"
            )
        self._append(row)
        if not self.schedule.is_check(n, self.planned):
            return
        start = time.perf_counter()
        if self._epoch_stats is None or self._epoch_stats[0] != n:  # no validation ran this epoch
            self.on_validation_epoch_start(trainer, pl_module)
        _, stats, _, grad_seconds = self._epoch_stats
        before = dict(self.state.gradient_counts)
        problems, evidence = check(
            self.state,
            self.history,
            stats,
            planned_epochs=self.planned,
            check_interval=self.schedule.interval_at(n, self.planned),
            thresholds=self.thresholds,
            gates=self.gates,
            series=self.series,
        )
        seen = sorted(k for k, v in self.state.gradient_counts.items() if v > before.get(k, 0))
        new = [p for p in problems if p not in self.detections]
        for problem in new:
            self.detections[problem] = n
        self.checks.append(
            {
                "epoch": n,
                "problems": problems,
                "evidence": _jsonable(evidence),
                "gradient_problems_seen": seen,
                "seconds": grad_seconds + time.perf_counter() - start,
            }
        )
        for logger in trainer.loggers:
            logger.log_metrics({"monitor/problems": float(len(problems))}, step=trainer.global_step)
        if problems:
            log.warning("monitor: epoch %d: %s", n, ", ".join(problems))
        if problems and self.on_detection in ("stop", "repair"):
            if trainer.is_global_zero:
                path = self.run_dir / "checkpoints" / DETECTION_CHECKPOINT
                path.parent.mkdir(parents=True, exist_ok=True)
                trainer.save_checkpoint(path, weights_only=True)
            trainer.should_stop = True
        self._write(trainer)

    def _write(self, trainer: pl.Trainer) -> None:
        if not trainer.is_global_zero:
            return
        stopped = next((c for c in self.checks if c["problems"]), None) if self.on_detection != "continue" else None
        record = {
            "planned_epochs": self.planned,
            "series": self.series,
            "schedule": {
                "kind": self.schedule.kind,
                "align": self.schedule.align,
                "description": self.schedule.describe(),
                "check_epochs": self.schedule.check_epochs(self.planned),
            },
            "gradient_batch": self.gradient_batch if self.gradient_batch is not None else "batch size",
            "thresholds": self.thresholds.__dict__,
            "gates": self.gates.__dict__,
            "on_detection": self.on_detection,
            "dying_relu_measure": self.dying_relu_measure,
            "detections": self.detections,
            "stopped_at": stopped["epoch"] if stopped else None,
            "detection_checkpoint": f"checkpoints/{DETECTION_CHECKPOINT}" if stopped else None,
            "checks": self.checks,
        }
        atomic_write_text(self.run_dir / MONITOR_FILE, json.dumps(_jsonable(record), indent=1))


def _jsonable(value: Any) -> Any:
    """JSON-safe copy: non-finite floats as strings ("nan", "inf")."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def build_monitor(cfg: Any, run_dir: Path) -> list[pl.Callback]:
    """The run's monitor callback from `cfg.monitor` ([] for monitor=none)."""
    from hydra.utils import instantiate

    node = cfg.get("monitor")
    if not node or "_target_" not in node:
        return []
    return [instantiate(node, run_dir=str(run_dir), planned_epochs=int(cfg.trainer.max_epochs), _convert_="all")]
