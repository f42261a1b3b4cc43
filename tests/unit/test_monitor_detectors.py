"""AutoTrainer's detectors and the checking schedules on crafted histories (no training)."""

from __future__ import annotations

import math

import pytest

from trainfix.monitor.detectors import (
    Gates,
    GradientStats,
    History,
    Thresholds,
    diagnose,
    dying_relu,
    exploding_gradient,
    first_firing_epoch,
    local_extrema,
    nan_loss,
    not_converging,
    ol_judge,
    slow_convergence,
    vanishing_gradient,
)
from trainfix.monitor.schedules import Schedule, online_detection

T = Thresholds()


def zigzag(n: int, low: float = 0.90, high: float = 0.95) -> list[float]:
    return [high if i % 2 else low for i in range(n)]


def test_ol_judge_flags_a_clear_oscillation():
    series = zigzag(10)  # maxima at 1,3,5,7 (0.95); minima at 2,4,6,8 (0.90): 4 pairs of 0.05
    judged = ol_judge(series, zeta=0.03, eta=0.2)
    assert (len(judged.maxima), len(judged.minima), judged.counted) == (4, 4, 4)
    assert judged.needed == pytest.approx(2.0) and judged.flagged
    assert judged.pair_index == 3  # the thesis' "detection epoch": pairs - 1


def test_ol_judge_monotone_series_has_no_pair():
    series = [0.5 + 0.04 * i for i in range(12)]
    judged = ol_judge(series, 0.03, 0.2)
    assert judged.pairs == 0 and judged.counted == 0 and not judged.flagged and judged.pair_index is None


def test_flat_points_count_as_both_extrema():
    assert local_extrema([0.5, 0.5, 0.5]) == ([0.5], [0.5])


def test_ol_judge_threshold_is_inclusive():
    # max - min exactly zeta counts (>=), a hair below does not. 0.5/0.25 are exact in binary.
    at = [0.25, 0.75, 0.25, 0.75, 0.25, 0.75]    # interior pairs (0.75, 0.25), (0.75, 0.25): difference 0.5
    assert ol_judge(at, zeta=0.5, eta=0.2).counted == 2
    assert ol_judge(at, zeta=0.5000001, eta=0.2).counted == 0


def test_ol_judge_rate_is_inclusive_and_grows_with_epochs():
    # 10 epochs, 2 counted pairs: flagged at eta = 0.2 (2 >= 2.0) but not at 0.21 (2 < 2.1).
    series = [0.90, 0.95, 0.90, 0.95, 0.90, 0.91, 0.92, 0.93, 0.94, 0.945]
    judged = ol_judge(series, 0.03, 0.2)
    assert judged.counted == 2 and judged.flagged
    assert not ol_judge(series, 0.03, 0.21).flagged
    # the same oscillation followed by 5 more calm epochs is no longer frequent enough (2 < 3).
    assert not ol_judge(series + [0.95, 0.955, 0.96, 0.965, 0.97], 0.03, 0.2).flagged


def test_first_firing_epoch_and_schedule_delay():
    # Calm until epoch 12, then a 0.05 zigzag: ol_judge on the series so far first fires when the
    # counted pairs reach 0.2 x epochs.
    series = [0.80 + 0.01 * i for i in range(12)] + zigzag(20, 0.86, 0.91)
    first = first_firing_epoch(series, 0.03, 0.2)
    by_hand = next(n for n in range(1, len(series) + 1)
                   if sum(1 for a, b in zip(*local_extrema(series[:n])) if a - b >= 0.03) >= 0.2 * n)
    assert first == by_hand == 20
    judge = lambda s: ol_judge(s, 0.03, 0.2).flagged  # noqa: E731
    constant = online_detection(series, Schedule("constant", every=3), 50, judge)
    dynamic = online_detection(series, Schedule("dynamic"), 50, judge)
    assert constant == 22 and constant - first == 2   # checks 1, 4, ..., 19, 22
    assert dynamic == 20 and dynamic - first == 0     # checks every epoch 11..20


def test_gradient_detectors_on_crafted_statistics():
    assert vanishing_gradient(GradientStats((5e-5, 1.0), 0.0, True), T)
    assert not vanishing_gradient(GradientStats((5e-5, 0.01), 0.0, True), T)  # ratio 5e-3 >= 1e-3
    assert not vanishing_gradient(GradientStats((2e-4, 1000.0), 0.0, True), T)  # first norm >= 1e-4
    assert exploding_gradient(GradientStats((71.0, 1.0), 0.0, True), T)
    assert not exploding_gradient(GradientStats((70.0, 1.0), 0.0, True), T)
    assert exploding_gradient(GradientStats((math.nan, 1.0), 0.0, False), T)
    assert dying_relu(GradientStats((1.0, 1.0), 0.7, True), T) and not dying_relu(GradientStats((1.0, 1.0), 0.69, True), T)


def test_history_detectors_including_nan():
    assert nan_loss([0.5, math.nan]) and nan_loss([0.5, math.inf]) and nan_loss([1000.0]) and not nan_loss([999.0])
    assert not_converging([0.5, 0.69], [0.6, 0.65], T) and not not_converging([0.5, 0.71], [0.6, 0.65], T)
    assert slow_convergence([0.10, 0.105, 0.109], [0.10, 0.101, 0.108], T)
    assert not slow_convergence([0.10, 0.2], [0.10, 0.101], T)


def test_diagnose_gates():
    stuck = History(train_loss=[2.3] * 10, train_acc=[0.11] * 10, val_loss=[2.3] * 10, val_acc=[0.11] * 10)
    dead = GradientStats((0.0, 0.0), 0.95, True)
    free, _ = diagnose(stuck, dead, planned_epochs=50, check_interval=3, thresholds=T, gates=Gates())
    assert free == ["dying_relu", "not_converge", "slow_convergence"]
    faithful = Gates(warmup=True, gradient_with_convergence=True, keep_one=True)
    early, evidence = diagnose(stuck, dead, planned_epochs=50, check_interval=3, thresholds=T, gates=faithful)
    assert early == [] and "warm-up" in evidence["gated"]   # 10 < 0.3 x 50 - 3 = 12
    later = History(**{k: v + v[:3] for k, v in stuck.__dict__.items()})
    kept, _ = diagnose(later, dead, planned_epochs=50, check_interval=3, thresholds=T, gates=faithful)
    assert kept == ["dying_relu"]                            # priority 2 beats not_converge's 1
    # learning well: the dead gradient alone is not reported under the convergence gate
    good = History(train_loss=[0.5] * 13, train_acc=[0.5 + 0.03 * i for i in range(13)], val_loss=[0.5] * 13,
                   val_acc=[0.5 + 0.03 * i for i in range(13)])
    assert diagnose(good, dead, planned_epochs=50, check_interval=3, thresholds=T, gates=faithful)[0] == []
    diverged = History(train_loss=[1.0, math.nan], train_acc=[0.5, 0.1], val_loss=[1.0, math.nan], val_acc=[0.5, 0.1])
    nan_grad = GradientStats((math.nan, math.nan), 0.0, False)
    assert diagnose(diverged, nan_grad, planned_epochs=50, check_interval=3, thresholds=T, gates=faithful)[0] == ["nan_loss"]
    assert diagnose(diverged, nan_grad, planned_epochs=50, check_interval=3, thresholds=T, gates=Gates())[0] == ["nan_loss", "exploding_gradient"]


@pytest.mark.parametrize(
    ("kind", "planned", "expected"),
    [
        ("constant", 50, [1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31, 34, 37, 40, 43, 46, 49]),
        ("constant", 150, list(range(1, 151, 3))),
        ("dynamic", 50, list(range(11, 21)) + [30, 40, 50]),
        ("dynamic", 150, list(range(31, 61)) + list(range(70, 151, 10))),
    ],
)
def test_schedule_check_epochs(kind, planned, expected):
    assert Schedule(kind, every=3).check_epochs(planned) == expected


def test_piecewise_schedule_and_errors():
    s = Schedule("piecewise", segments=[{"start": 0, "every": 5}, {"start": 0.5, "every": None}])
    assert s.check_epochs(20) == [5, 10]
    with pytest.raises(ValueError, match="monitor.schedule.kind='weekly'"):
        Schedule("weekly")
    with pytest.raises(ValueError, match="begin"):
        Schedule("piecewise", segments=[{"start": 0.3, "every": 1}])
