"""Eq. 12 (DeepEutaxy's convergence criterion) read back from a run's per-epoch records: the first epoch whose
gradient norm is <= epsilon under a reading (`convergence.READINGS`), the maximum accuracy and its epoch, the
first epoch at a level, and a dead network at chance level. Pure pandas on one run's epochs (a metrics.csv frame
with `epoch_number` = epoch + 1 and `train_acc_used`, the training accuracy the tables read) and its row of
run facts (`epsilon`, `num_classes`); the DeepEutaxy tables (`trainfix.papers.deepeutaxy`) aggregate
them over seeds. docs/tables.md defines each number.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from trainfix.core.records import FINISHED
from trainfix.training.callbacks.convergence import READINGS
from trainfix.training.callbacks.full_gradient import FULL_GRADIENT_COLUMN

Outcome = float | str  # a seed's number, or why it has none
Measure = Callable[[pd.DataFrame, pd.Series], Outcome]  # (the run's epochs, its row of run facts) -> outcome

READING_TEXT = {
    "last": "grad_norm_last, the gradient L2 norm at the last step of each epoch",
    "mean": "grad_norm_mean, the mean gradient L2 norm over each epoch's steps",
    "full": (
        "grad_norm_full, the L2 norm of the data-loss gradient over the whole training set at the end of each epoch"
    ),
}
# `auto`: `full` when every finished run used recorded grad_norm_full, else `last`.
READING_CHOICES = (*READINGS, "auto")
AUTO_TEXT = "grad_norm_full when every finished run recorded it, else grad_norm_last"
# Accuracies are fractions; a seed reaches BL's level when acc >= level - LEVEL_TOLERANCE
# (the level is a mean of fractions, so it can differ from an equal accuracy in the last bit).
LEVEL_TOLERANCE = 1e-9
# A finished run whose training accuracy never exceeded twice chance (2 / num_classes) and whose gradient
# vanished (Eq. 12 met on the full-set gradient when recorded, else on a step reading): a dead network
# (e.g. ReLUs killed by the first Adagrad steps) that predicts one class or the prior for the whole run,
# at a stationary point.
# "exclude" (default): such a seed does not count in any cell (reason "chance level"), as a diverged run;
# "count": it counts as any finished run (the paper's averaging read literally). Captions name such seeds.
CHANCE_LEVEL_CHOICES = ("exclude", "count")
CHANCE_REASON = "chance level"


def validate_chance_level(chance_level: str) -> str:
    if chance_level not in CHANCE_LEVEL_CHOICES:
        raise ValueError(
            f"chance_level={chance_level!r} is not accepted; use one of {list(CHANCE_LEVEL_CHOICES)} "
            "(what the cells do with a dead network: a finished run whose training accuracy never exceeded "
            "2 / num_classes and whose gradient vanished)"
        )
    return chance_level


def chance_accuracy(run: pd.Series) -> float:
    """1 / num_classes of the run (10 classes when the run did not record it)."""
    classes = run.get("num_classes")
    return 1.0 / (float(classes) if classes is not None and not pd.isna(classes) else 10.0)


def at_chance_level(metrics: pd.DataFrame | None, run: pd.Series) -> bool:
    """Whether the run is a dead network: its training accuracy (`train_acc_used`) never exceeded twice
    chance in any epoch, and its gradient vanished (Eq. 12 met at the run's epsilon: on the full-set
    gradient when recorded, else on a step reading; a stationary point). A network still learning slowly
    (a short run, a large gradient) is not."""
    if (
        metrics is None
        or metrics.empty
        or "train_acc_used" not in metrics.columns
        or not metrics["train_acc_used"].notna().any()
    ):
        return False
    if float(metrics["train_acc_used"].max()) > 2 * chance_accuracy(run):
        return False
    # The full-set gradient when recorded: a step reading is met spuriously by an SPL epoch with a few
    # selected samples (fix 1), which is not a dead network.
    full = READINGS["full"]
    columns = (
        [full] if full in metrics.columns and metrics[full].notna().any() else [READINGS["last"], READINGS["mean"]]
    )
    epsilon = epsilon_of(run, None)
    return any(isinstance(first_converged(metrics, column, epsilon), int) for column in columns)


def validate_reading(convergence: str) -> str:
    """The metrics column of a convergence reading ("last", "mean" or "full")."""
    if convergence not in READINGS:
        raise ValueError(f"convergence={convergence!r} is not accepted; use one of {sorted(READING_CHOICES)}")
    return READINGS[convergence]


def recorded_column(metrics: pd.DataFrame | None, column: str) -> bool:
    return metrics is not None and column in metrics.columns and bool(metrics[column].notna().any())


def as_outcome(value: Any, scale: float = 1.0) -> Outcome:
    """`value * scale`, or "not recorded" for a missing value."""
    return "not recorded" if value is None or pd.isna(value) else float(value) * scale


def first_converged(metrics: pd.DataFrame, column: str, epsilon: float) -> int | None | str:
    """Position of the first epoch with gradient norm <= epsilon; None: never; "no gradient norm".

    An epoch that made no optimizer step (e.g. SPL selected no sample) records a NaN norm (older
    runs: 0, recognized because the cumulative `samples_seen` did not grow); it cannot meet the criterion.
    """
    norms = metrics[column] if column in metrics.columns else pd.Series(dtype=float)
    if not norms.notna().any():
        return "no gradient norm"
    eligible = norms <= epsilon
    seen = metrics["samples_seen"]
    if seen.notna().all():
        eligible &= seen.diff().fillna(seen) > 0
    hits = eligible.to_numpy().nonzero()[0]
    return int(hits[0]) if len(hits) else None


def converged_epoch(column: str, epsilon: float | None, epoch_column: str | None = "epoch_number") -> Measure:
    """The measure "epoch at which Eq. 12 is first met on `column`": the 1-based `epoch_column`, or with
    None the epochs counted from the run's first recorded epoch (Table VII's additional epochs)."""

    def measure(metrics: pd.DataFrame, run: pd.Series) -> Outcome:
        position = first_converged(metrics, column, epsilon_of(run, epsilon))
        if position is None:
            return "not converged"
        if isinstance(position, str):
            return position
        if epoch_column is not None:
            return float(metrics[epoch_column].iloc[position])
        return float(metrics["epoch"].iloc[position] - metrics["epoch"].iloc[0] + 1)

    return measure


def first_at_level(metrics: pd.DataFrame, column: str, level: float) -> Outcome:
    """The 1-based epoch at which `column` first reaches `level` (LEVEL_TOLERANCE), or "not reached"."""
    hits = (metrics[column] >= level - LEVEL_TOLERANCE).to_numpy().nonzero()[0] if column in metrics.columns else []
    return float(metrics["epoch_number"].iloc[hits[0]]) if len(hits) else "not reached"


def bl_level(maxima: list[Outcome]) -> float | None:
    """BL's level: the mean of the counted BL seeds' maxima (None when no BL seed counts)."""
    numbers = [float(v) for v in maxima if not isinstance(v, str)]
    return sum(numbers) / len(numbers) if numbers else None


def epsilon_of(run: pd.Series, override: float | None) -> float:
    return float(override) if override is not None else float(run["epsilon"])


def first_argmax_epoch(series: pd.Series, epoch_number: pd.Series) -> Outcome:
    """The 1-based epoch of the first maximum of `series`."""
    if not series.notna().any():
        return "not recorded"
    return float(epoch_number.iloc[int(series.fillna(-math.inf).to_numpy().argmax())])


def seed_numbers(
    metrics: pd.DataFrame, run: pd.Series, epsilon: float | None, reading_column: str, levels: dict[str, float | None]
) -> dict[str, str]:
    """One run's per-seed numbers behind DeepEutaxy's Tables IV-VI, as text (the per-seed table's cells): epochs
    recorded, the Eq. 12 epoch under each reading, train/test accuracy (and SPL's selected share) at the Eq. 12
    epoch of `reading_column` (the last epoch when never met), each accuracy's maximum and its epoch, the first
    epoch at BL's `levels`, the smallest full-set gradient norm, and a note when Eq. 12 is met at chance level."""
    epochs = metrics["epoch_number"]
    out = {"epochs": str(len(metrics))}
    if run["status"] != FINISHED:
        out["status"] = f"{run['status']} (epoch {int(epochs.iloc[-1])} so far)"
    for reading, column in READINGS.items():
        position = first_converged(metrics, column, epsilon_of(run, epsilon))
        out[f"Eq. 12 epoch ({reading})"] = (
            "never" if position is None else position if isinstance(position, str) else str(int(epochs.iloc[position]))
        )
    position = first_converged(metrics, reading_column, epsilon_of(run, epsilon))
    at = position if isinstance(position, int) else len(metrics) - 1
    for name, column in (("train", "train_acc_used"), ("test", "test_acc")):
        value = metrics[column].iloc[at] if column in metrics.columns else None
        out[f"{name} acc at Eq. 12"] = (
            "not recorded" if value is None or pd.isna(value) else f"{100 * float(value):.2f}%"
        )
    if (
        run["strategy"] == "SPL"
        and "spl_selected_frac" in metrics.columns
        and pd.notna(metrics["spl_selected_frac"].iloc[at])
    ):
        out["SPL selected at Eq. 12"] = f"{100 * float(metrics['spl_selected_frac'].iloc[at]):.2f}%"
    for name, column in (("train", "train_acc_used"), ("test", "test_acc")):
        series = metrics[column] if column in metrics.columns else pd.Series(dtype=float)
        if not series.notna().any():
            out[f"max {name} acc (epoch)"] = "not recorded"
            continue
        out[f"max {name} acc (epoch)"] = f"{100 * float(series.max()):.2f}% ({int(first_argmax_epoch(series, epochs))})"
        if levels[name] is not None:
            reached = first_at_level(metrics, column, levels[name])
            out[f"first epoch at BL's {name} level"] = reached if isinstance(reached, str) else str(int(reached))
    if FULL_GRADIENT_COLUMN in metrics.columns and metrics[FULL_GRADIENT_COLUMN].notna().any():
        norms = metrics[FULL_GRADIENT_COLUMN]
        out["min full-set grad norm (epoch)"] = (
            f"{float(norms.min()):.3g} ({int(epochs.iloc[int(norms.fillna(math.inf).to_numpy().argmin())])})"
        )
    if isinstance(position, int) and "train_acc_used" in metrics.columns:
        if float(metrics["train_acc_used"].iloc[position]) <= 2 * chance_accuracy(run):
            out["note"] = "Eq. 12 met at chance level"
    return out
