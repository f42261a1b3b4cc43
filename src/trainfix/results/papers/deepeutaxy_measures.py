"""DeepEutaxy's measurements per seed: Eq. 12's convergence epoch under each gradient-norm reading, the
maximum accuracy and its epoch, the first epoch at BL's level, a dead network at chance level; and the
per-seed table behind Tables IV-VI (`seed_values`). docs/tables.md defines each number.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

from trainfix.results.cells import Measure, Outcome, RunPool, count
from trainfix.results.collect import OK_STATUS, RunCollection
from trainfix.results.papers.deepeutaxy_runs import (
    STRATEGIES,
    TABLE_VII_ROLES,
    expected_seeds,
    label_runs,
    row_label,
    select_runs,
)
from trainfix.training.callbacks.convergence import READINGS

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


def resolve_reading(convergence: str, pool: RunPool) -> tuple[str, str]:
    """(the reading, why) for `convergence` in READING_CHOICES: "auto" is "full" when every finished
    run of `pool` recorded grad_norm_full (the only reading that needs the whole training set in play:
    neither an SPL batch with one selected sample, the last batch of a DE order, nor the L2 penalty
    can meet it), else "last"."""
    if convergence != "auto":
        validate_reading(convergence)
        return convergence, "given"
    finished = pool.runs[pool.runs["status"] == OK_STATUS] if not pool.runs.empty else pool.runs
    recorded = [recorded_column(pool.metrics.get(str(path)), READINGS["full"]) for path in finished.get("path", [])]
    if recorded and all(recorded):
        return "full", "auto: every finished run recorded grad_norm_full"
    return (
        "last",
        f"auto: grad_norm_full recorded by {sum(recorded)} of {count(len(recorded), 'finished run')} "
        "(convergence.full_gradient=false)",
    )


def recorded_column(metrics: pd.DataFrame | None, column: str) -> bool:
    return metrics is not None and column in metrics.columns and bool(metrics[column].notna().any())


def de_pool(
    parts: list[tuple[RunCollection, pd.DataFrame]], group_column: str, chance_level: str = "exclude"
) -> RunPool:
    """The RunPool of DeepEutaxy's tables: under `chance_level="exclude"` a dead network does not count
    (its `exclude` is set); table_vii_role is the group itself, read with aliases: not compared."""
    validate_chance_level(chance_level)
    exclude = (
        (lambda metrics, run: CHANCE_REASON if at_chance_level(metrics, run) else None)
        if chance_level == "exclude"
        else None
    )
    return RunPool.of(parts, group_column, exclude=exclude, label="DeepEutaxy tables", allowed=("table_vii_role",))


def tables_iv_vi_runs(
    runs: RunCollection, variant: str | None, chance_level: str, seeds: Iterable[int] | None, convergence: str
) -> tuple[RunCollection, pd.DataFrame, RunPool, list[int], tuple[str, str]]:
    """What Tables IV-VI (and their per-seed table) take from `runs`: the labelled collection, its BL/SPL/DE
    runs without a Table VII role, their pool, the expected seeds, and (the convergence reading, why)."""
    runs = label_runs(runs)
    selected = select_runs(runs.runs, roles=[None], strategies=STRATEGIES, variant=variant)
    pool = de_pool([(runs, selected)], "strategy", chance_level)
    seed_list = expected_seeds(selected, seeds)
    return runs, selected, pool, seed_list, resolve_reading(convergence, pool)


def at_chance(pool: RunPool, run: pd.Series | None) -> bool:
    """Whether `run` finished as a dead network (`at_chance_level`)."""
    if run is None or run["status"] != OK_STATUS:
        return False
    return at_chance_level(pool.metrics.get(str(run["path"])), run)


def chance_seeds(pool: RunPool, rows: Iterable[str], groups: Iterable[str], seeds: list[int]) -> list[str]:
    """'LeNet-5 BL seed 2 (max train 11.24%)' for each finished seed at chance level."""
    found = []
    for row in rows:
        for group in groups:
            for seed, run in pool.seed_runs(row, group, seeds):
                if at_chance(pool, run):
                    best = float(pool.metrics[str(run["path"])]["train_acc_used"].max())
                    found.append(
                        f"{row_label(row)} {TABLE_VII_ROLES.get(group, group)} seed {seed} (max train "
                        f"{100 * best:.2f}%)"
                    )
    return found


def chance_line(
    pool: RunPool, rows: Iterable[str], groups: Iterable[str], seeds: list[int], where: str = "cells"
) -> str | None:
    """The caption line naming the seeds at chance level and what `where` (the cells, the curves) does
    with them (None: none)."""
    found = chance_seeds(pool, rows, groups, seeds)
    if not found:
        return None
    what = (
        f"excluded from the {where} (reason 'chance level'; --chance-level count counts them)"
        if pool.exclude is not None
        else f"counted in the {where} as any finished run (--chance-level count; the default excludes them)"
    )
    return (
        "At chance level (training accuracy never above 2 / num_classes in the whole run, gradient vanished: Eq. 12 "
        "met on the full-set gradient, or a step reading when that is not recorded; a dead network that predicts one "
        f"class or the prior), {what}: {'; '.join(found)}."
    )


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


def chance_level_convergence(
    pool: RunPool, rows: list[str], seeds: list[int], norm_column: str, epsilon: float | None
) -> list[str]:
    """Counted seeds whose first converged epoch has train accuracy at most twice chance (2 / num_classes, 10
    classes when the run did not record it): "LeNet-5 BL seed 2: epoch 1, train 11.24%, test 11.35%"."""
    found = []
    for row in rows:
        for strategy in STRATEGIES:
            for seed, run in pool.seed_runs(row, strategy, seeds):
                if not pool.counted(run):
                    continue
                metrics = pool.metrics[str(run["path"])]
                position = first_converged(metrics, norm_column, epsilon_of(run, epsilon))
                if not isinstance(position, int) or "train_acc_used" not in metrics.columns:
                    continue
                train = float(metrics["train_acc_used"].iloc[position])
                if train <= 2 * chance_accuracy(run):
                    test = float(metrics["test_acc"].iloc[position]) if "test_acc" in metrics.columns else math.nan
                    found.append(
                        f"{row_label(row)} {strategy} seed {seed}: "
                        f"epoch {int(metrics['epoch_number'].iloc[position])}, train {100 * train:.2f}%, "
                        f"test {100 * test:.2f}%"
                    )
    return found
