"""The per-seed table behind DeepEutaxy's Tables IV-VI (seeds_iv_vi.md/.csv/.tex): one row per (model,
strategy, seed) with the numbers the tables average."""

from __future__ import annotations

from typing import Any

import pandas as pd

from trainfix.results.cells import count, format_value
from trainfix.results.collect import RunCollection
from trainfix.results.papers.deepeutaxy_captions import TEXT
from trainfix.results.papers.deepeutaxy_measures import at_chance, tables_iv_vi_runs
from trainfix.results.papers.deepeutaxy_runs import STRATEGIES, row_label
from trainfix.training.callbacks.convergence_measures import (
    as_outcome,
    bl_level,
    seed_numbers,
    validate_reading,
)

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


def seed_values(runs: RunCollection, **options: Any) -> pd.DataFrame:
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
    used = tables_iv_vi_runs(runs, **options)
    pool, seed_list, convergence, epsilon = used.pool, used.seeds, used.convergence, used.epsilon
    norm_column = validate_reading(convergence)
    records, level_texts = [], []
    for row in used.rows:
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
                    record.update(seed_numbers(metrics, run, epsilon, norm_column, levels))
                    if at_chance(pool, run):
                        record["note"] = (
                            "at chance level: excluded from the tables"
                            if pool.exclude is not None
                            else "at chance level: counted in the tables"
                        )
                records.append(record)
    frame = pd.DataFrame(records, columns=["run", "Model", "Strategy", "Seed", *SEED_COLUMNS]).set_index("run")
    caption = used.caption("iv")[1:-1]
    levels_text = "; ".join(level_texts) or "none"
    caption += [line.format(convergence=convergence, levels=levels_text) for line in TEXT["seeds"]["caption"]]
    frame.attrs = {"stem": "seeds_iv_vi", "title": TEXT["seeds"]["title"], "caption": caption}
    frame.attrs["short"] = TEXT["seeds"]["short"]
    return frame
