"""The monitor replayed on a recorded run (`trainfix.monitor.replay`): every schedule, both readings, with and
without AutoTrainer's warm-up gate, and AutoTrainer's verdict, on a crafted 30-epoch run computed by hand."""

from __future__ import annotations

import math

from trainfix.monitor.replay import READINGS, history_from_series, replay
from trainfix.monitor.schedules import Schedule

PLANNED = 30
# validation accuracy: 12 calm epochs, then a 0.05 zigzag. Maxima at indices 11, 13, 15, ..., minima at 12, 14, ...
# ol_judge (0.02/0.2) after n epochs: n = 20 -> 4 pairs >= 4.0 (fires); 21 -> 4 < 4.2; 22 -> 5 >= 4.4; 26 -> 7 >= 5.2;
# 16 -> 2 < 3.2. Training accuracy rises 0.02 per epoch: never oscillating, never slow (so no extra layer check).
VAL = [0.80 + 0.01 * i for i in range(12)] + [0.91 if i % 2 else 0.86 for i in range(18)]
TRAIN = [0.30 + 0.02 * i for i in range(30)]
RUN = history_from_series([0.5] * 30, TRAIN, [0.4] * 30, VAL)


def _replay(schedule: Schedule, warmup: bool, reading: str = "validation"):
    return replay(RUN, schedule, PLANNED, READINGS[reading], warmup=warmup)


def test_constant_schedules_with_and_without_the_gate():
    # constant 3: checks 1, 4, ..., 19, 22; the gate (n >= 0.3 x 30 - 3 = 6) does not reach 22. 8 checks made.
    for warmup in (False, True):
        r = _replay(Schedule("constant", every=3), warmup)
        assert (r.detect, r.checks) == (22, 8)
    # constant 5: checks 1, 6, 11, 16, 21, 26: 21 misses (4 < 4.2), 26 catches.
    assert _replay(Schedule("constant", every=5), False).detect == 26


def test_dynamic_late_checks_by_alignment():
    # 30 planned: every epoch in (6, 12], then every 10. AutoTrainer's rule (run-aligned) checks after epoch 21,
    # where ol_judge does not flag (4 < 4.2), and has no later check: never detected, 7 checks.
    run_aligned = _replay(Schedule("dynamic"), False)
    assert (run_aligned.detect, run_aligned.checks) == (None, 7)
    # segment-aligned: 7..12, then 22, which flags.
    segment = _replay(Schedule("dynamic", align="segment"), True)
    assert (segment.detect, segment.checks) == (22, 7)


def test_autotrainer_verdict_comes_only_at_the_mid_check():
    # The mid check is the first check with 0-based epoch >= 15: constant 3 -> 16, constant 5 -> 16, dynamic
    # run-aligned -> 21, segment-aligned -> 22. The verdict is 'unstable' only if the (sticky) flag was raised at
    # a gated check up to then: at 16 and 21 it was not, at 22 it is.
    assert _replay(Schedule("constant", every=3), True).verdict is None
    assert _replay(Schedule("constant", every=5), True).verdict is None
    assert _replay(Schedule("dynamic"), True).verdict is None
    assert _replay(Schedule("dynamic", align="segment"), True).verdict == 22


def test_training_reading_sees_no_oscillation():
    for schedule in (Schedule("constant", every=3), Schedule("dynamic")):
        r = _replay(schedule, False, reading="training")
        assert (r.detect, r.verdict) == (None, None)


def test_nan_validation_loss_counts_as_not_evaluated():
    assert history_from_series([0.5], [0.5], [math.nan], [0.5]).val_loss == [None]
