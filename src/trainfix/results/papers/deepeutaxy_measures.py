"""DeepEutaxy's pools of runs for its tables: the runs a table takes, the Eq. 12 reading they allow, and the
seeds at chance level (a dead network) named in the captions. The per-seed measurements themselves (Eq. 12's
convergence epoch under each reading, maxima, first epoch at BL's level) are read from a run's records by
`trainfix.training.callbacks.convergence_measures`, next to the callback that records them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from trainfix.results.cells import Cell, RunPool, aggregate, count
from trainfix.results.collect import OK_STATUS, RunCollection
from trainfix.results.papers.deepeutaxy_captions import TEXT, provenance_lines
from trainfix.results.papers.deepeutaxy_runs import (
    STRATEGIES,
    TABLE_VII_ROLES,
    expected_seeds,
    label_runs,
    row_label,
    select_runs,
    table_rows,
)
from trainfix.training.callbacks.convergence import READINGS
from trainfix.training.callbacks.convergence_measures import (
    CHANCE_REASON,
    Measure,
    at_chance_level,
    chance_accuracy,
    epsilon_of,
    first_converged,
    recorded_column,
    validate_chance_level,
    validate_reading,
)


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


@dataclass
class TableRuns:
    """What one DeepEutaxy table or figure takes from the runs: the labelled collections, the runs selected,
    their pool, the expected seeds, the Eq. 12 reading (and why) and the options its caption names."""

    collections: list[RunCollection]
    selected: pd.DataFrame
    pool: RunPool
    seeds: list[int]
    convergence: str
    why: str = "given"
    epsilon: float | None = None
    variant: str | None = None
    rows: list[str] | None = None  # the table rows, in the paper's order

    @property
    def runs(self) -> RunCollection:
        return self.collections[0]

    def caption(self, table: str, uses_convergence: bool = True, duplicates: bool = True) -> list[str]:
        """The provenance lines of the caption (`deepeutaxy_captions.provenance_lines`)."""
        return provenance_lines(
            self.collections,
            self.selected,
            self.seeds,
            self.convergence,
            self.epsilon,
            table,
            uses_convergence=uses_convergence,
            duplicates=self.pool.duplicates() if duplicates else 0,
            variant=self.variant,
            reading_why=self.why,
        )


def tables_iv_vi_runs(
    runs: RunCollection,
    *,
    convergence: str = "auto",
    epsilon: float | None = None,
    seeds: Iterable[int] | None = None,
    rows: Iterable[str] | None = None,
    variant: str | None = None,
    chance_level: str = "exclude",
    resolve: bool = True,
) -> TableRuns:
    """What Tables IV-VI (their per-seed table, Figure 3) take from `runs`: the labelled collection, its BL/SPL/DE
    runs without a Table VII role, their pool, the expected seeds, the table rows (`rows`, else those found), and
    the convergence reading (resolved from "auto" unless `resolve` is False: the figure names the reading asked
    for, which it does not use). The options of every Tables IV-VI function: convergence ("auto" | "last" | "mean"
    | "full"), epsilon (Eq. 12's threshold; None: each run's), seeds (expected; None: those found), rows, variant
    (paper | authors_code; None: refuse a mix), chance_level ("exclude" | "count")."""
    runs = label_runs(runs)
    selected = select_runs(runs.runs, roles=[None], strategies=STRATEGIES, variant=variant)
    pool = de_pool([(runs, selected)], "strategy", chance_level)
    seed_list = expected_seeds(selected, seeds)
    reading, why = resolve_reading(convergence, pool) if resolve else (convergence, "given")
    return TableRuns([runs], selected, pool, seed_list, reading, why, epsilon, variant, table_rows(selected, rows))


def convergence_cell(
    pool: RunPool, row: str, group: str, seeds: list[int], measure: Measure, none_text: str = "not converged"
) -> Cell:
    """Epochs to converge (Eq. 12) over the seeds: a seed that never met it reads "not converged"; when none did,
    the cell reads `none_text` (Tables V-VII write "failed")."""
    return aggregate("epochs", pool.outcomes(row, group, seeds, measure), soft="not converged", soft_text=none_text)


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
    what = TEXT["chance"]["excluded" if pool.exclude is not None else "counted"].format(where=where)
    return TEXT["chance"]["line"].format(what=what, found="; ".join(found))


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
