"""The per-seed table behind DeepEutaxy's Tables IV-VI (seeds_iv_vi.md/.csv/.tex): one row per (model,
strategy, seed) with the numbers the tables average."""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

from trainfix.results.cells import count, format_value
from trainfix.results.collect import OK_STATUS, RunCollection
from trainfix.results.papers.deepeutaxy_captions import provenance_lines
from trainfix.results.papers.deepeutaxy_measures import (
    as_outcome,
    at_chance,
    bl_level,
    chance_accuracy,
    epsilon_of,
    first_argmax_epoch,
    first_at_level,
    first_converged,
    tables_iv_vi_runs,
    validate_reading,
)
from trainfix.results.papers.deepeutaxy_runs import STRATEGIES, row_label, table_rows
from trainfix.training.callbacks.convergence import READINGS
from trainfix.training.callbacks.full_gradient import FULL_GRADIENT_COLUMN as FULL_NORM

# --------------------------------------------------------------------------- per seed
SEED_COLUMNS = (
    "status",
    "epochs",
    "Eq. 12 epoch (full)",
    "Eq. 12 epoch (last)",
    "Eq. 12 epoch (mean)",
    "train acc at Eq. 12",
    "test acc at Eq. 12",
    "SPL selected at Eq. 12",
    "max train acc (epoch)",
    "max test acc (epoch)",
    "first epoch at BL's train level",
    "first epoch at BL's test level",
    "min full-set grad norm (epoch)",
    "note",
)


def seed_values(
    runs: RunCollection,
    *,
    convergence: str = "auto",
    epsilon: float | None = None,
    seeds: Iterable[int] | None = None,
    rows: Iterable[str] | None = None,
    variant: str | None = None,
    chance_level: str = "exclude",
) -> pd.DataFrame:
    """The per-seed numbers behind Tables IV-VI: one row per (model, strategy, seed), text cells.

    Index (Model, Strategy, Seed); columns SEED_COLUMNS. "Eq. 12 epoch" under each reading (1-based,
    "never", "not recorded"); train/test accuracy at the Eq. 12 epoch of the tables' reading, or at the
    last epoch when never met (Table IV's per-seed value); each accuracy's maximum with its first
    1-based epoch (Tables V-VI); the first epoch at or above BL's level (the mean over finished BL
    seeds of their maxima: Table V/VI's A for BL, B/C for SPL/DE); the smallest full-set data-loss
    gradient norm. A seed whose run has not finished shows its numbers so far and its status (the
    tables count finished runs only); one with no run reads "missing". `note` names a seed whose
    Eq. 12 epoch is at chance level (train accuracy <= 2 / num_classes: a dead network).
    """
    runs, selected, pool, seed_list, (convergence, why) = tables_iv_vi_runs(
        runs, variant, chance_level, seeds, convergence
    )
    norm_column = validate_reading(convergence)
    records, level_texts = [], []
    for row in table_rows(selected, rows):
        levels = {}
        for accuracy, column in (("train", "train_acc_used"), ("test", "test_acc")):
            maxima = pool.outcomes(
                row, "BL", seed_list, lambda m, r, c=column: as_outcome(m[c].max() if c in m.columns else None)
            )
            levels[accuracy] = bl_level(maxima)
            counted = sum(not isinstance(v, str) for v in maxima)
            level_texts.append(
                f"{row_label(row)} {accuracy} "
                f"{format_value('acc', 100 * levels[accuracy]) if counted else 'none (no counted BL run)'} "
                f"({count(counted, 'BL seed')})"
            )
        for strategy in STRATEGIES:
            for seed, run in pool.seed_runs(row, strategy, seed_list):
                record = dict.fromkeys(SEED_COLUMNS, "-")
                record.update(
                    {
                        "run": f"(no run: {row} {strategy} seed {seed})" if run is None else str(run["run_id"]),
                        "Model": row_label(row),
                        "Strategy": strategy,
                        "Seed": seed,
                        "status": "missing" if run is None else str(run["status"]),
                    }
                )
                metrics = None if run is None else pool.metrics.get(str(run["path"]))
                if metrics is not None and not metrics.empty:
                    record.update(_seed_numbers(metrics, run, epsilon, norm_column, levels))
                    if at_chance(pool, run):
                        record["note"] = (
                            "at chance level: excluded from the tables"
                            if chance_level == "exclude"
                            else "at chance level: counted in the tables"
                        )
                records.append(record)
    frame = pd.DataFrame(records, columns=["run", "Model", "Strategy", "Seed", *SEED_COLUMNS]).set_index("run")
    caption = provenance_lines(
        [runs],
        selected,
        seed_list,
        convergence,
        epsilon,
        "iv",
        uses_convergence=True,
        duplicates=pool.duplicates(),
        variant=variant,
        reading_why=why,
    )[1:-1]
    caption += [
        "One row per seed (index: its run folder): the numbers Tables IV-VI average. "
        "A run that has not finished shows its numbers so far (status column); the tables count finished runs only.",
        "Eq. 12 epoch: first 1-based epoch with gradient norm <= epsilon under each reading ('never' in the epochs "
        f"recorded); train/test acc at Eq. 12: at that epoch under the tables' reading '{convergence}', "
        "or at the last epoch when never met (Table IV's per-seed value).",
        "max acc (epoch): the seed's maximum and the first 1-based epoch it is reached (Tables V-VI). "
        "First epoch at BL's level: BL's level = mean over counted BL seeds of their maximum (Tables V-VI's A for BL, "
        "B for SPL, C for DE); 'not reached' when the seed never gets there. BL's levels: "
        f"{'; '.join(level_texts) or 'none'}.",
        "min full-set grad norm: the smallest grad_norm_full (data-loss gradient over the whole training set) "
        "and its epoch.",
        "note: 'at chance level' = training accuracy never above 2 / num_classes in the whole run and Eq. 12 met "
        "(full-set gradient when recorded) (a dead network; the tables exclude it by default, "
        "--chance-level count counts it); 'Eq. 12 met at chance level' = a counted seed whose Eq. 12 epoch has "
        "training accuracy <= 2 / num_classes.",
    ]
    frame.attrs = {"stem": "seeds_iv_vi", "title": "Tables IV-VI (DeepEutaxy) per seed", "caption": caption}
    return frame


def _seed_numbers(
    metrics: pd.DataFrame, run: pd.Series, epsilon: float | None, norm_column: str, levels: dict[str, float | None]
) -> dict[str, str]:
    """One run's cells of `seed_values` (text)."""
    epochs = metrics["epoch_number"]
    out = {"epochs": str(len(metrics))}
    if run["status"] != OK_STATUS:
        out["status"] = f"{run['status']} (epoch {int(epochs.iloc[-1])} so far)"
    for reading, column in READINGS.items():
        position = first_converged(metrics, column, epsilon_of(run, epsilon))
        out[f"Eq. 12 epoch ({reading})"] = (
            "never" if position is None else position if isinstance(position, str) else str(int(epochs.iloc[position]))
        )
    position = first_converged(metrics, norm_column, epsilon_of(run, epsilon))
    at = position if isinstance(position, int) else len(metrics) - 1
    for name, column in (("train", "train_acc_used"), ("test", "test_acc")):
        value = metrics[column].iloc[at] if column in metrics.columns else None
        out[f"{name} acc at Eq. 12"] = (
            "not recorded" if value is None or pd.isna(value) else format_value("acc", 100 * float(value))
        )
    if (
        run["strategy"] == "SPL"
        and "spl_selected_frac" in metrics.columns
        and pd.notna(metrics["spl_selected_frac"].iloc[at])
    ):
        out["SPL selected at Eq. 12"] = format_value("acc", 100 * float(metrics["spl_selected_frac"].iloc[at]))
    for name, column in (("train", "train_acc_used"), ("test", "test_acc")):
        series = metrics[column] if column in metrics.columns else pd.Series(dtype=float)
        if not series.notna().any():
            out[f"max {name} acc (epoch)"] = "not recorded"
            continue
        out[f"max {name} acc (epoch)"] = (
            f"{format_value('acc', 100 * float(series.max()))} ({int(first_argmax_epoch(series, epochs))})"
        )
        if levels[name] is not None:
            reached = first_at_level(metrics, column, levels[name])
            out[f"first epoch at BL's {name} level"] = reached if isinstance(reached, str) else str(int(reached))
    if FULL_NORM in metrics.columns and metrics[FULL_NORM].notna().any():
        norms = metrics[FULL_NORM]
        out["min full-set grad norm (epoch)"] = (
            f"{float(norms.min()):.3g} ({int(epochs.iloc[int(norms.fillna(math.inf).to_numpy().argmin())])})"
        )
    if isinstance(position, int) and "train_acc_used" in metrics.columns:
        if float(metrics["train_acc_used"].iloc[position]) <= 2 * chance_accuracy(run):
            out["note"] = "Eq. 12 met at chance level"
    return out
