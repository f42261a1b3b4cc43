"""AutoTrainer's problem detectors (ICSE 2021, shiningrain/AUTOTRAINER `utils/monitor.py`), as pure functions
over recorded per-epoch histories and gradient statistics; the dynamic-checking thesis' reading of `ol_judge`.

Definitions and defaults (docs/monitor.md; `../shared/references/autotrainer.md`):

- oscillating loss (`ol_judge`): interior points >= both neighbours are maxima, <= both are minima (a flat
  point is both); the k-th maximum is paired with the k-th minimum; a pair counts when max - min >= zeta;
  the problem is present when count >= eta x (epochs so far). AutoTrainer: training accuracy, zeta 0.03,
  eta 0.2. Thesis: validation accuracy, zeta 0.02, eta 0.2.
- vanishing gradient: ||g first kernel|| / ||g last kernel|| < beta_1 (1e-3) and ||g first kernel|| < beta_2 (1e-4).
- exploding gradient: that ratio > beta_3 (70), or a non-finite gradient.
- dying ReLU: share of exactly-zero gradient entries over all trainable tensors >= gamma (0.7).
- not converging: best validation and best training accuracy both < Theta (0.7).
- slow convergence: largest one-epoch rise of both validation and training accuracy < delta (0.01).
- NaN loss (AutoTrainer's `nan_loss`): any training or validation loss so far NaN/Inf or >= 1e3 (the whole
  history, `has_NaN` and `check_large_loss` in loss_issue).
- negative loss (AutoTrainer's `abnormal_loss`, verdict `loss_issue`): any training or validation loss so far < 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from trainfix.monitor.schedules import warmup_open

# AutoTrainer's priority filter (monitor.py): one problem is kept, the highest; ties go to the earlier
# entry of VERDICT_ORDER, AutoTrainer's order of appending problems to its verdict list.
PRIORITY = {
    "nan_loss": 3,
    "negative_loss": 3,
    "dying_relu": 2,
    "exploding_gradient": 2,
    "vanishing_gradient": 2,
    "not_converge": 1,
    "oscillating_loss": 1,
    "slow_convergence": 0,
}
VERDICT_ORDER = tuple(PRIORITY)
GRADIENT_PROBLEMS = ("dying_relu", "exploding_gradient", "vanishing_gradient")
HUGE_LOSS = 1e3
# Flags after which AutoTrainer computes layer outputs at the next check (utils.py on_epoch_end:
# `abnormal_loss or nan_loss or sc_accuracy`), so a verdict can be given there.
LAYER_CHECK_FLAGS = ("nan_loss", "negative_loss", "slow_convergence")
MID_CHECK_POINT = 0.5  # AutoTrainer's mid_check: layer outputs at the first check with 0-based epoch >= 0.5 x planned


@dataclass(frozen=True)
class OlJudgement:
    """`ol_judge` on one series: the extrema, the pairs, how many counted, and the verdict.

    `pair_index` is what the thesis' notebook returns and tabulates as the "detection epoch"
    (Tables 3-1/3-2): the last loop index over the max/min pairs, i.e. pairs - 1, when flagged.
    """

    maxima: tuple[float, ...]
    minima: tuple[float, ...]
    counted: int
    needed: float
    flagged: bool

    @property
    def pairs(self) -> int:
        return min(len(self.maxima), len(self.minima))

    @property
    def pair_index(self) -> int | None:
        return self.pairs - 1 if self.flagged and self.pairs else None


def local_extrema(series: Sequence[float]) -> tuple[list[float], list[float]]:
    """AutoTrainer's maxima and minima of `series`: interior points >= / <= both neighbours (flat = both)."""
    maxima, minima = [], []
    for i in range(1, len(series) - 1):
        if series[i] - series[i - 1] >= 0 and series[i] - series[i + 1] >= 0:
            maxima.append(float(series[i]))
        if series[i] - series[i - 1] <= 0 and series[i] - series[i + 1] <= 0:
            minima.append(float(series[i]))
    return maxima, minima


def ol_judge(series: Sequence[float], zeta: float = 0.03, eta: float = 0.2) -> OlJudgement:
    """Oscillation of `series` (per-epoch accuracy, the whole history so far), AutoTrainer's rule."""
    if zeta < 0 or eta < 0:
        raise ValueError(f"ol_judge: zeta={zeta}, eta={eta}; accepted: both >= 0")
    maxima, minima = local_extrema(series)
    counted = sum(1 for high, low in zip(maxima, minima) if high - low >= zeta)
    needed = eta * len(series)
    return OlJudgement(tuple(maxima), tuple(minima), counted, needed, counted >= needed and len(series) > 0)


def first_firing_epoch(series: Sequence[float], zeta: float, eta: float) -> int | None:
    """The first n (1-based count of epochs) at which ol_judge on series[:n] flags, else None."""
    for n in range(1, len(series) + 1):
        if ol_judge(series[:n], zeta, eta).flagged:
            return n
    return None


@dataclass(frozen=True)
class GradientStats:
    """What AutoTrainer reads from one gradient: the L2 norm of each kernel's gradient (in the network's
    parameter order), the share of exactly-zero entries over all trainable tensors, and finiteness."""

    kernel_norms: tuple[float, ...]
    zero_share: float
    finite: bool

    @property
    def ratio(self) -> float:
        """||g first kernel|| / ||g last kernel||: inf when only the last is zero, nan when both are (as
        numpy's division in AutoTrainer; nan is neither vanishing nor exploding)."""
        if len(self.kernel_norms) < 1:
            return float("nan")
        first, last = self.kernel_norms[0], self.kernel_norms[-1]
        if last > 0:
            return first / last
        return float("nan") if first == 0 or math.isnan(first) else float("inf")

    def as_dict(self) -> dict[str, Any]:
        return {
            "kernel_norms": list(self.kernel_norms),
            "zero_share": self.zero_share,
            "finite": self.finite,
            "ratio": self.ratio,
        }


@dataclass(frozen=True)
class Thresholds:
    """AutoTrainer's defaults (utils.py default_param); `zeta`/`eta` are the thesis' 0.02/0.2 in its configs."""

    beta_1: float = 1e-3  # vanishing: gradient-norm ratio below
    beta_2: float = 1e-4  # vanishing: first kernel's gradient norm below
    beta_3: float = 70.0  # exploding: ratio above
    gamma: float = 0.7  # dying ReLU: share of zero gradient entries at or above
    zeta: float = 0.03  # oscillation: max - min of a counted pair, accuracy units
    eta: float = 0.2  # oscillation: counted pairs per epoch so far
    delta: float = 0.01  # slow convergence: largest one-epoch accuracy rise below
    theta: float = 0.7  # not converging: best accuracies below


def vanishing_gradient(stats: GradientStats, t: Thresholds) -> bool:
    return stats.finite and stats.ratio < t.beta_1 and stats.kernel_norms[0] < t.beta_2


def exploding_gradient(stats: GradientStats, t: Thresholds) -> bool:
    return (not stats.finite) or stats.ratio > t.beta_3


def dying_relu(stats: GradientStats, t: Thresholds) -> bool:
    return stats.zero_share >= t.gamma


def not_converging(train_acc: Sequence[float], val_acc: Sequence[float], t: Thresholds) -> bool:
    return bool(train_acc) and bool(val_acc) and max(val_acc) < t.theta and max(train_acc) < t.theta


def largest_rise(series: Sequence[float]) -> float:
    """The largest one-epoch increase of `series` (-inf with fewer than two epochs)."""
    return max((b - a for a, b in zip(series, series[1:])), default=-math.inf)


def slow_convergence(train_acc: Sequence[float], val_acc: Sequence[float], t: Thresholds) -> bool:
    if len(train_acc) < 2 or len(val_acc) < 2:
        return False
    return largest_rise(val_acc) < t.delta and largest_rise(train_acc) < t.delta


def _recorded(*series: Sequence[float | None]) -> list[float]:
    return [float(v) for s in series for v in s if v is not None]


def nan_loss(train_loss: Sequence[float | None], val_loss: Sequence[float | None] = ()) -> bool:
    """Any loss so far, training or validation (None = not evaluated that epoch), NaN/Inf or >= 1e3."""
    return any(not math.isfinite(v) or v >= HUGE_LOSS for v in _recorded(train_loss, val_loss))


def negative_loss(train_loss: Sequence[float | None], val_loss: Sequence[float | None] = ()) -> bool:
    """Any loss so far below 0 (AutoTrainer's check_abnormal_value: a loss that cannot be a cross-entropy)."""
    return any(v < 0 for v in _recorded(train_loss, val_loss))


@dataclass
class Gates:
    """AutoTrainer's gates, each an option (all on in monitor=autotrainer_faithful, off in monitor=autotrainer).

    warmup: checks other than NaN/negative loss only once epochs >= 0.3 x planned - check interval.
    gradient_with_convergence: gradient problems (and not_converge) reported only when not_converge or
        slow convergence also holds; not_converge itself needs both (monitor.py's verdict).
    keep_one: keep the single highest-priority problem (PRIORITY, ties by VERDICT_ORDER).
    determine_threshold: a gradient problem is reported once seen at this many checks (AutoTrainer: 1 in its demos).
    sticky: a flag raised at a check stays raised at every later check (AutoTrainer's feature dict is only
        ever set to True, its gradient counters only grow); off: each check reports what holds at it.
    verdict_at_layer_check: problems are reported only at a check that computes layer outputs (AutoTrainer's
        judge_issue runs only then): the first check with 0-based epoch >= 0.5 x planned, and every check
        after one that raised nan_loss, negative_loss or slow_convergence.
    """

    warmup: bool = False
    gradient_with_convergence: bool = False
    keep_one: bool = False
    determine_threshold: int = 1
    sticky: bool = False
    verdict_at_layer_check: bool = False


@dataclass
class History:
    """Per-epoch series the detectors read (index i = epoch i + 1 completed)."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)  # None: not evaluated that epoch
    val_acc: list[float] = field(default_factory=list)

    def series(self, name: str) -> list[float]:
        if name not in ("train_acc", "val_acc"):
            raise ValueError(f"monitor.series={name!r}; accepted: train_acc (AutoTrainer), val_acc (the thesis)")
        return getattr(self, name)


def diagnose(
    history: History,
    gradients: GradientStats | None,
    *,
    planned_epochs: int,
    check_interval: int,
    thresholds: Thresholds,
    gates: Gates,
    series: str = "train_acc",
    gradient_counts: dict[str, int] | None = None,
    flags: dict[str, bool] | None = None,
    layer_check: bool = True,
) -> tuple[list[str], dict[str, Any]]:
    """The problems present at a check after len(history.train_loss) epochs, and the evidence.

    `gradient_counts` (problem -> checks seen so far) is updated in place when given, for
    `gates.determine_threshold`; `flags` (problem -> raised at some earlier check) likewise, for
    `gates.sticky`. `layer_check`: whether this check computes layer outputs (`layer_check_due`), for
    `gates.verdict_at_layer_check`. Returns (problems in VERDICT_ORDER, evidence dict).
    """
    t = thresholds
    earlier = flags if flags is not None else {}
    epochs = len(history.train_loss)
    evidence: dict[str, Any] = {"epochs": epochs}
    found: dict[str, bool] = {}
    if nan_loss(history.train_loss, history.val_loss):
        evidence["first_bad_loss"] = next(
            {"series": name, "epoch": i + 1, "value": v}
            for name in ("train_loss", "val_loss")
            for i, v in enumerate(getattr(history, name))
            if v is not None and (not math.isfinite(v) or v >= HUGE_LOSS)
        )
        found["nan_loss"] = True
        if gradients is not None and not gradients.finite:
            found["exploding_gradient"] = True
        return _report(found, earlier, gates, layer_check, evidence)
    found["negative_loss"] = negative_loss(history.train_loss, history.val_loss)
    seen: dict[str, bool] = {}
    counts = gradient_counts if gradient_counts is not None else {}
    if gradients is not None:  # AutoTrainer's gradient_issue counts at every check, before loss_issue's gate
        evidence["gradients"] = gradients.as_dict()
        seen = {
            "vanishing_gradient": vanishing_gradient(gradients, t),
            "exploding_gradient": exploding_gradient(gradients, t),
            "dying_relu": dying_relu(gradients, t),
        }
        for name, present in seen.items():
            if present:
                counts[name] = counts.get(name, 0) + 1
    if gates.warmup and not warmup_open(epochs, planned_epochs, check_interval):
        evidence["gated"] = f"warm-up: {epochs} < 0.3 x {planned_epochs} - {check_interval}"
        return _report(found, earlier, gates, layer_check, evidence)

    judged = ol_judge(history.series(series), t.zeta, t.eta)
    evidence["oscillating_loss"] = {
        "series": series,
        "counted_pairs": judged.counted,
        "needed": judged.needed,
        "pairs": judged.pairs,
    }
    found["oscillating_loss"] = judged.flagged
    nc = not_converging(history.train_acc, history.val_acc, t)
    sc = slow_convergence(history.train_acc, history.val_acc, t)
    evidence["best_train_acc"] = max(history.train_acc, default=None)
    evidence["best_val_acc"] = max(history.val_acc, default=None)
    evidence["largest_rise"] = {"train_acc": largest_rise(history.train_acc), "val_acc": largest_rise(history.val_acc)}
    found["slow_convergence"] = sc
    found["not_converge"] = nc

    for name, present in seen.items():
        # AutoTrainer's counters only grow: under `sticky` a problem seen often enough stays reported.
        found[name] = counts.get(name, 0) >= gates.determine_threshold and (present or gates.sticky)
    return _report(found, earlier, gates, layer_check, evidence)


@dataclass
class CheckState:
    """What AutoTrainer's monitor carries from one check to the next: the gradient problems' counters, the
    flags raised so far (for `Gates.sticky` and the layer-output rule), and whether its mid check is done."""

    gradient_counts: dict[str, int] = field(default_factory=dict)
    flags: dict[str, bool] = field(default_factory=dict)
    mid_check_done: bool = False


# The keyword list repeats diagnose's on purpose: both are public, typed entry points; check passes each on.
def check(
    state: CheckState,
    history: History,
    gradients: GradientStats | None,
    *,
    planned_epochs: int,
    check_interval: int,
    thresholds: Thresholds,
    gates: Gates,
    series: str = "train_acc",
) -> tuple[list[str], dict[str, Any]]:
    """One check after len(history.train_loss) epochs, as AutoTrainer's LossHistory.on_epoch_end runs it:
    decide whether it computes layer outputs (from the flags of earlier checks), then `diagnose`; `state`
    is updated. The callback and the offline replay (`monitor.replay`) both check through here."""
    n = len(history.train_loss)
    layer = layer_check_due(n, planned_epochs, state.mid_check_done, state.flags)
    if n - 1 >= MID_CHECK_POINT * planned_epochs:
        state.mid_check_done = True
    problems, evidence = diagnose(
        history,
        gradients,
        planned_epochs=planned_epochs,
        check_interval=check_interval,
        thresholds=thresholds,
        gates=gates,
        series=series,
        gradient_counts=state.gradient_counts,
        flags=state.flags,
        layer_check=layer,
    )
    evidence["layer_check"] = layer
    return problems, evidence


def layer_check_due(n: int, planned: int, mid_check_done: bool, flags: dict[str, bool]) -> bool:
    """Whether AutoTrainer computes layer outputs at the check after n epochs (utils.py on_epoch_end): at its
    mid check (the first check with 0-based epoch n - 1 >= 0.5 x planned), or after an earlier check raised
    nan_loss, negative_loss or slow_convergence (`flags`: raised at earlier checks)."""
    return (not mid_check_done and n - 1 >= MID_CHECK_POINT * planned) or any(
        flags.get(name, False) for name in LAYER_CHECK_FLAGS
    )


def _report(
    found: dict[str, bool], earlier: dict[str, bool], gates: Gates, layer_check: bool, evidence: dict[str, Any]
) -> tuple[list[str], dict[str, Any]]:
    """The verdict from the flags `found` at this check: record them in `earlier` and the evidence, then apply
    `sticky`, `gradient_with_convergence` (AutoTrainer's judge_issue), `verdict_at_layer_check` and `keep_one`."""
    raised = {name for name, value in found.items() if value}
    flags = raised | {name for name, value in earlier.items() if value} if gates.sticky else raised
    earlier.update(dict.fromkeys(raised, True))
    evidence["flags"] = sorted(flags)
    shown = set(flags)
    if gates.gradient_with_convergence:
        nc, sc = "not_converge" in flags, "slow_convergence" in flags
        if not (nc or sc):
            shown -= set(GRADIENT_PROBLEMS)
        if not (nc and sc):
            shown.discard("not_converge")
        shown.discard("slow_convergence")  # AutoTrainer uses it only as a gate, never as a verdict
    if gates.verdict_at_layer_check and not layer_check:
        evidence["verdict"] = "deferred: no layer-output check"
        return [], evidence
    problems = [name for name in VERDICT_ORDER if name in shown]
    return _keep(problems, gates), evidence


def _keep(problems: list[str], gates: Gates) -> list[str]:
    if not gates.keep_one or not problems:
        return problems
    top = max(PRIORITY[p] for p in problems)
    return [next(p for p in problems if PRIORITY[p] == top)]
