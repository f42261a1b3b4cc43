"""AutoTrainer's detectors and the checking schedules on crafted histories (no training)."""

from __future__ import annotations

import math

import pytest

from trainfix.monitor.detectors import (
    CheckState,
    Gates,
    GradientStats,
    History,
    Thresholds,
    check,
    diagnose,
    dying_relu,
    exploding_gradient,
    first_firing_epoch,
    layer_check_due,
    local_extrema,
    nan_loss,
    negative_loss,
    not_converging,
    ol_judge,
    slow_convergence,
    vanishing_gradient,
)
from trainfix.monitor.schedules import Schedule, gated_check_epochs, online_detection, warmup_open

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
    at = [0.25, 0.75, 0.25, 0.75, 0.25, 0.75]  # interior pairs (0.75, 0.25), (0.75, 0.25): difference 0.5
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
    by_hand = next(
        n
        for n in range(1, len(series) + 1)
        if sum(1 for a, b in zip(*local_extrema(series[:n])) if a - b >= 0.03) >= 0.2 * n
    )
    assert first == by_hand == 20
    judge = lambda s: ol_judge(s, 0.03, 0.2).flagged  # noqa: E731
    constant = online_detection(series, Schedule("constant", every=3), 50, judge)
    dynamic = online_detection(series, Schedule("dynamic"), 50, judge)
    assert constant == 22 and constant - first == 2  # checks 1, 4, ..., 19, 22
    assert dynamic == 20 and dynamic - first == 0  # checks every epoch 11..20
    # AutoTrainer's warm-up gate (0.3 x 50 - interval) does not reach these checks: 22 >= 12, 20 >= 14
    assert online_detection(series, Schedule("constant", every=3), 50, judge, warmup=True) == 22
    assert online_detection(series, Schedule("dynamic"), 50, judge, warmup=True) == 20


def test_warmup_gate_moves_an_early_detection():
    # A 0.05 zigzag from the start: after 4 epochs the first max (index 1) and min (index 2) make one pair
    # >= 0.2 x 4, and the pairs keep pace with the epochs: ol_judge fires at 4 and stays on.
    series = zigzag(50)
    judge = lambda s: ol_judge(s, 0.03, 0.2).flagged  # noqa: E731
    assert first_firing_epoch(series, 0.03, 0.2) == 4
    constant3 = Schedule("constant", every=3)
    assert online_detection(series, constant3, 50, judge) == 4  # checks 1, 4: at 4
    # gate: n >= 0.3 x 50 - 3 = 12: the checks 1, 4, 7, 10 only look for NaN/negative loss; 13 is the first
    assert online_detection(series, constant3, 50, judge, warmup=True) == 13
    assert online_detection(series, Schedule("constant", every=5), 50, judge, warmup=True) == 11  # n >= 15 - 5
    assert online_detection(series, Schedule("dynamic"), 50, judge, warmup=True) == 14  # n >= 15 - 1
    assert online_detection(series, Schedule("dynamic"), 50, judge) == 11


def test_warmup_gate_by_hand():
    assert not warmup_open(11, 50, 3) and warmup_open(12, 50, 3)  # 12 >= 15 - 3
    assert warmup_open(10, 50, 5) and not warmup_open(9, 50, 5)
    assert gated_check_epochs(Schedule("constant", every=3), 50)[:2] == [13, 16]
    assert gated_check_epochs(Schedule("constant", every=5), 50)[:2] == [11, 16]
    # dynamic: interval 1 in (10, 20] (n >= 14), 10 after (n >= 5: every late check passes)
    assert gated_check_epochs(Schedule("dynamic"), 50) == [14, 15, 16, 17, 18, 19, 20, 21, 31, 41]
    assert [Schedule("dynamic").interval_at(n, 50) for n in (12, 20, 21, 41)] == [1, 1, 10, 10]


def test_gradient_detectors_on_crafted_statistics():
    assert vanishing_gradient(GradientStats((5e-5, 1.0), 0.0, True), T)
    assert not vanishing_gradient(GradientStats((5e-5, 0.01), 0.0, True), T)  # ratio 5e-3 >= 1e-3
    assert not vanishing_gradient(GradientStats((2e-4, 1000.0), 0.0, True), T)  # first norm >= 1e-4
    assert exploding_gradient(GradientStats((71.0, 1.0), 0.0, True), T)
    assert not exploding_gradient(GradientStats((70.0, 1.0), 0.0, True), T)
    assert exploding_gradient(GradientStats((math.nan, 1.0), 0.0, False), T)
    assert dying_relu(GradientStats((1.0, 1.0), 0.7, True), T) and not dying_relu(
        GradientStats((1.0, 1.0), 0.69, True), T
    )


def test_history_detectors_including_nan():
    assert nan_loss([0.5, math.nan]) and nan_loss([0.5, math.inf]) and nan_loss([1000.0]) and not nan_loss([999.0])
    # the whole history, training and validation (AutoTrainer's has_NaN / check_large_loss on both lists)
    assert nan_loss([math.nan, 0.5, 0.4]) and nan_loss([2e3, 0.5]) and nan_loss([0.5, 0.4], [0.6, 1000.0])
    assert nan_loss([0.5], [math.inf]) and not nan_loss([0.5, 0.4], [0.6, None, 999.9])  # None: not evaluated
    assert (
        negative_loss([0.5, -1e-6]) and negative_loss([0.5], [0.4, -0.1]) and not negative_loss([0.0, 0.5], [None, 0.0])
    )
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
    assert early == [] and "warm-up" in evidence["gated"]  # 10 < 0.3 x 50 - 3 = 12
    later = History(**{k: v + v[:3] for k, v in stuck.__dict__.items()})
    kept, _ = diagnose(later, dead, planned_epochs=50, check_interval=3, thresholds=T, gates=faithful)
    assert kept == ["dying_relu"]  # priority 2 beats not_converge's 1
    # learning well: the dead gradient alone is not reported under the convergence gate
    good = History(
        train_loss=[0.5] * 13,
        train_acc=[0.5 + 0.03 * i for i in range(13)],
        val_loss=[0.5] * 13,
        val_acc=[0.5 + 0.03 * i for i in range(13)],
    )
    assert diagnose(good, dead, planned_epochs=50, check_interval=3, thresholds=T, gates=faithful)[0] == []
    # a loss that went NaN and came back still counts (AutoTrainer reads the whole history)
    recovered = History(
        train_loss=[5e3, 0.5, 0.4], train_acc=[0.1, 0.5, 0.6], val_loss=[0.6, 0.5, 0.4], val_acc=[0.1, 0.5, 0.6]
    )
    problems, evidence = diagnose(recovered, None, planned_epochs=50, check_interval=3, thresholds=T, gates=Gates())
    assert problems == ["nan_loss"] and evidence["first_bad_loss"] == {"series": "train_loss", "epoch": 1, "value": 5e3}
    # a negative loss is reported before the warm-up gate, as AutoTrainer's abnormal_loss (priority 3)
    negative = History(train_loss=[0.5, -0.2], train_acc=[0.5, 0.6], val_loss=[0.6, 0.5], val_acc=[0.5, 0.6])
    assert diagnose(negative, None, planned_epochs=50, check_interval=3, thresholds=T, gates=faithful)[0] == [
        "negative_loss"
    ]
    diverged = History(train_loss=[1.0, math.nan], train_acc=[0.5, 0.1], val_loss=[1.0, math.nan], val_acc=[0.5, 0.1])
    nan_grad = GradientStats((math.nan, math.nan), 0.0, False)
    assert diagnose(diverged, nan_grad, planned_epochs=50, check_interval=3, thresholds=T, gates=faithful)[0] == [
        "nan_loss"
    ]
    assert diagnose(diverged, nan_grad, planned_epochs=50, check_interval=3, thresholds=T, gates=Gates())[0] == [
        "nan_loss",
        "exploding_gradient",
    ]


@pytest.mark.parametrize(
    ("kind", "align", "planned", "expected"),
    [
        ("constant", "run", 50, [1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31, 34, 37, 40, 43, 46, 49]),
        ("constant", "run", 150, list(range(1, 151, 3))),
        # AutoTrainer's rule on the thesis' "epoch_10": 0-based epochs 20, 30, 40 = after epochs 21, 31, 41
        ("dynamic", "run", 50, list(range(11, 21)) + [21, 31, 41]),
        ("dynamic", "run", 150, list(range(31, 61)) + list(range(61, 151, 10))),
        ("dynamic", "segment", 50, list(range(11, 21)) + [30, 40, 50]),
        ("dynamic", "segment", 150, list(range(31, 61)) + list(range(70, 151, 10))),
    ],
)
def test_schedule_check_epochs(kind, align, planned, expected):
    assert Schedule(kind, every=3, align=align).check_epochs(planned) == expected


def test_piecewise_schedule_and_errors():
    segments = [{"start": 0, "every": 5}, {"start": 0.5, "every": None}]
    assert Schedule("piecewise", segments=segments).check_epochs(20) == [1, 6]
    assert Schedule("piecewise", segments=segments, align="segment").check_epochs(20) == [5, 10]
    with pytest.raises(ValueError, match="monitor.schedule.align='middle'"):
        Schedule("dynamic", align="middle")
    with pytest.raises(ValueError, match="monitor.schedule.kind='weekly'"):
        Schedule("weekly")
    with pytest.raises(ValueError, match="begin"):
        Schedule("piecewise", segments=[{"start": 0.3, "every": 1}])


def test_sticky_flags_keep_a_transient_oscillation():
    # 0.05 zigzag for 6 epochs, then calm: flagged after 6 epochs (2 pairs >= 1.2), not after 12 (2 < 2.4).
    series = zigzag(6) + [0.95 + 0.001 * i for i in range(1, 7)]
    assert ol_judge(series[:6], 0.03, 0.2).flagged and not ol_judge(series, 0.03, 0.2).flagged
    history = History(train_loss=[0.3] * 12, train_acc=series, val_loss=[0.3] * 12, val_acc=series)
    prefix = lambda n: History(*(getattr(history, k)[:n] for k in ("train_loss", "train_acc", "val_loss", "val_acc")))  # noqa: E731
    for sticky, expected in ((False, []), (True, ["oscillating_loss"])):
        state = CheckState()
        gates = Gates(sticky=sticky)
        first, _ = check(state, prefix(6), None, planned_epochs=50, check_interval=6, thresholds=T, gates=gates)
        later, evidence = check(state, prefix(12), None, planned_epochs=50, check_interval=6, thresholds=T, gates=gates)
        assert first == ["oscillating_loss"] and later == expected and state.flags == {"oscillating_loss": True}


def test_verdict_only_at_the_layer_output_check():
    # AutoTrainer computes layer outputs at its mid check (first check with 0-based epoch >= 0.5 x planned)
    # or after an earlier check raised nan/negative loss or slow convergence.
    assert not layer_check_due(5, 10, False, {}) and layer_check_due(6, 10, False, {})  # 0-based 5 >= 5
    assert not layer_check_due(7, 10, True, {}) and layer_check_due(3, 10, True, {"slow_convergence": True})
    series = zigzag(10)  # flagged from epoch 3 on
    history = History(train_loss=[0.3] * 10, train_acc=series, val_loss=[0.3] * 10, val_acc=series)
    gates = Gates(warmup=True, sticky=True, verdict_at_layer_check=True, keep_one=True, gradient_with_convergence=True)
    state = CheckState()
    reported = {}
    for n in range(1, 11):  # every epoch, 10 planned: the gate opens at n >= 3 - 1 = 2
        prefix = History(*(getattr(history, k)[:n] for k in ("train_loss", "train_acc", "val_loss", "val_acc")))
        reported[n], _ = check(state, prefix, None, planned_epochs=10, check_interval=1, thresholds=T, gates=gates)
    assert [n for n, p in reported.items() if p] == [6] and reported[6] == ["oscillating_loss"] and state.mid_check_done


def test_a_collapse_after_learning_is_left_to_the_gradient_checks():
    """A committed 150-epoch run (budgets folder, seed 3) learns to 0.96 test accuracy, then its loss jumps to ln 10 at
    epoch 100 and stays at chance. Judged at the end, no history check reports it: not converging reads the best
    accuracies so far, slow convergence the largest one-epoch rise so far (both set before the collapse), and the loss
    stays finite and under 1e3. Only a gradient check (here dying ReLU on a dead network's statistics) can."""
    import csv
    from pathlib import Path

    runs = Path(__file__).resolve().parents[2] / "results/monitor/oscillating_loss_budgets_mnist_cpu/runs"
    (metrics,) = runs.glob("mlp20_ep150_seed3-*/metrics.csv")
    rows = list(csv.DictReader(metrics.open()))
    series = {key: [float(row[key]) for row in rows] for key in ("train_loss", "train_acc", "test_loss", "test_acc")}
    history = History(
        train_loss=series["train_loss"],
        train_acc=series["train_acc"],
        val_loss=series["test_loss"],
        val_acc=series["test_acc"],
    )
    assert len(rows) == 150 and max(series["test_acc"]) > 0.95 and series["test_acc"][-1] < 0.11
    assert min(series["train_loss"][100:]) > 2.3  # ln 10: a constant output from epoch 100 on
    args = {"planned_epochs": 150, "check_interval": 3, "thresholds": T, "gates": Gates()}
    assert diagnose(history, None, **args)[0] == []
    dead = GradientStats((0.0, 0.0), 0.95, True)
    assert "dying_relu" in diagnose(history, dead, **args)[0]
