"""What the monitor would have reported on a recorded run: every check of a schedule replayed through the
callback's own check (`detectors.check`) on the run's per-epoch series, so one set of runs serves every
schedule, reading and gate (the oscillating-loss study, `trainfix.monitor.study`).

Readings of ol_judge (`READINGS`):
- `validation`: the thesis' (validation accuracy, zeta 0.02, eta 0.2; its notebooks);
- `training`: AutoTrainer's own (training accuracy, zeta 0.03, eta 0.2; `monitor.py` ol_judge reads
  `history['acc']`, `utils.py` default_param).

Per (schedule, reading), `replay` gives:
- the detection epoch: the first check at which oscillating_loss is present, reported at once (the run
  stops there with `on_detection=stop`), without or with AutoTrainer's warm-up gate;
- the verdict epoch: AutoTrainer as its code runs (warm-up gate, sticky flags, verdict only at a check that
  computes layer outputs, one problem kept): for runs with no NaN/negative loss and no slow convergence that
  is its mid check, the first check at or after half the planned epochs, and only if the flag was raised at a
  gated check up to then. No gradient is replayed (the runs recorded none): gradient problems are not judged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from trainfix.monitor.detectors import CheckState, Gates, History, Thresholds, check
from trainfix.monitor.schedules import Schedule


@dataclass(frozen=True)
class Reading:
    """Which accuracy series ol_judge reads, with which thresholds."""

    series: str  # train_acc | val_acc
    zeta: float  # a max/min pair counts when max - min >= zeta
    eta: float  # flagged when counted pairs >= eta x epochs so far


READINGS = {
    "validation": Reading("val_acc", 0.02, 0.2),  # the thesis
    "training": Reading("train_acc", 0.03, 0.2),  # AutoTrainer
}
PROBLEM = "oscillating_loss"
AT_ONCE = Gates()  # every flag reported at the check that raises it
FAITHFUL = Gates(warmup=True, gradient_with_convergence=True, keep_one=True, sticky=True, verdict_at_layer_check=True)


@dataclass(frozen=True)
class Replay:
    """One schedule and reading on one run of `planned` epochs (None: never)."""

    detect: int | None  # first check with oscillating_loss, reported at once
    checks: int  # checks made up to `detect` (all of the schedule's when never)
    verdict: int | None  # first check at which AutoTrainer's verdict is 'unstable' (oscillating_loss)
    verdict_other: str | None  # a different verdict that stopped the run first, if any


def history_from_series(
    train_loss: Sequence[float], train_acc: Sequence[float], val_loss: Sequence[float | None], val_acc: Sequence[float]
) -> History:
    """A History from recorded columns; a NaN validation loss counts as not evaluated (a recorded NaN and a
    missing evaluation cannot be told apart in metrics.csv)."""
    clean = [None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in val_loss]
    return History(list(map(float, train_loss)), list(map(float, train_acc)), clean, list(map(float, val_acc)))


def _run(history: History, schedule: Schedule, planned: int, reading: Reading, gates: Gates):
    """Yield (n, problems) at each of the schedule's checks within the recorded epochs."""
    state = CheckState()
    thresholds = Thresholds(zeta=reading.zeta, eta=reading.eta)
    for n in schedule.check_epochs(planned):
        if n > len(history.train_loss):
            return
        prefix = History(*(getattr(history, name)[:n] for name in ("train_loss", "train_acc", "val_loss", "val_acc")))
        problems, _ = check(
            state,
            prefix,
            None,
            planned_epochs=planned,
            check_interval=schedule.interval_at(n, planned),
            thresholds=thresholds,
            gates=gates,
            series=reading.series,
        )
        yield n, problems


def replay(history: History, schedule: Schedule, planned: int, reading: Reading, *, warmup: bool) -> Replay:
    """The detection epoch (at once; `warmup`: with AutoTrainer's warm-up gate) and AutoTrainer's verdict
    epoch (always gated, as its code) of oscillating loss for one schedule and reading."""
    detect, checks = None, 0
    for n, problems in _run(history, schedule, planned, reading, Gates(warmup=warmup)):
        checks += 1
        if PROBLEM in problems:
            detect = n
            break
    verdict, other = None, None
    for n, problems in _run(history, schedule, planned, reading, FAITHFUL):
        if problems:
            verdict, other = (n, None) if problems == [PROBLEM] else (None, problems[0])
            break
    return Replay(detect, checks, verdict, other)
