"""DeepEutaxy Table VII: SPL's 200-epoch runs (Base) continued with SPL, DE and SPL+DE; per model the max
train/test accuracy and the additional epochs to converge, paper | ours | diff."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from trainfix.results.cells import Cell, aggregate, entry, values_frame, widen
from trainfix.results.collect import RunCollection
from trainfix.results.paper import load_paper
from trainfix.results.papers.deepeutaxy_captions import TEXT, readings_line
from trainfix.results.papers.deepeutaxy_measures import (
    TableRuns,
    chance_line,
    convergence_cell,
    de_pool,
    resolve_reading,
)
from trainfix.results.papers.deepeutaxy_runs import (
    TABLE_VII_ROLES,
    expected_seeds,
    label_runs,
    order_rows,
    row_label,
    select_runs,
)
from trainfix.training.callbacks.convergence_measures import Outcome, as_outcome, converged_epoch, validate_reading


def table_vii_values(
    runs: RunCollection,
    base_runs: RunCollection | None = None,
    *,
    convergence: str = "auto",
    epsilon: float | None = None,
    seeds: Iterable[int] | None = None,
    rows: Iterable[str] | None = None,
    variant: str | None = None,
    paper: dict[str, Any] | None = None,
    chance_level: str = "exclude",
) -> pd.DataFrame:
    """Table VII as a long frame: rows Base, SPL, DE, SPL+DE; per model max train/test acc and
    additional epochs to convergence.

    runs: the Table VII multirun (runs with config.table_vii_role in base/spl/de/spl_de).
    base_runs: where the Base runs are when not in `runs`: the 200-epoch SPL runs (e.g. the Table IV
    multirun); its SPL runs without a role are used. `rows` selects models (default: those in `runs`).
    """
    paper = paper or load_paper("deepeutaxy_table_vii")
    runs, base_runs = label_runs(runs), base_runs and label_runs(base_runs)
    parts = [(runs, select_runs(runs.runs, roles=TABLE_VII_ROLES, variant=variant))]
    if parts[0][1].empty:
        raise ValueError(
            f"{runs.root} holds no Table VII runs: expected runs whose config has table_vii_role in "
            f"{sorted(TABLE_VII_ROLES)}"
        )
    models = list(rows) if rows is not None else order_rows(sorted(set(parts[0][1]["row"])))
    if base_runs is not None:
        base = select_runs(base_runs.runs, roles=[None, "base"], strategies=["SPL"], variant=variant)
        base = base[base["row"].isin(models)].assign(table_vii_role="base")
        parts.append((base_runs, base))
    pool = de_pool(parts, "table_vii_role", chance_level)
    selected = pool.runs
    seed_list = expected_seeds(selected, seeds)
    used = TableRuns(
        [c for c, _ in parts], selected, pool, seed_list, *resolve_reading(convergence, pool), epsilon, variant
    )
    norm_column = validate_reading(used.convergence)
    de_variants = set(selected.loc[selected["table_vii_role"] == "de", "variant"].dropna())

    def seed_max(column: str) -> Callable[[pd.DataFrame, pd.Series], Outcome]:
        return lambda metrics, run: as_outcome(metrics[column].max(), 100.0)

    additional_epochs = converged_epoch(norm_column, epsilon, None)
    entries = []
    for role, method in TABLE_VII_ROLES.items():
        if role == "de" and "authors_code" in de_variants:
            method += " (no counterpart in the code)"
        cells = paper["rows"].get(role) or {}
        for model in models:
            published = cells.get(model) or {}
            label = row_label(model)
            for name, column in (("train", "train_acc_used"), ("test", "test_acc")):
                cell = aggregate("acc", pool.outcomes(model, role, seed_list, seed_max(column)))
                entries.append(
                    entry(role, method, f"{label} max {name} acc", "acc", published.get(f"max_{name}_acc"), cell)
                )
            if role == "base":
                cell = Cell("text", None, text_if_none="-")
            else:
                cell = convergence_cell(pool, model, role, seed_list, additional_epochs, "failed")
            entries.append(
                entry(
                    role,
                    method,
                    f"{label} additional epochs to converge",
                    "epochs",
                    published.get("additional_epochs"),
                    cell,
                )
            )
    caption = used.caption("vii")
    if "authors_code" in de_variants:
        caption.append(TEXT["table_vii"]["authors_code"])
    dead = chance_line(pool, models, TABLE_VII_ROLES, seed_list)
    if dead:
        caption.append(dead)
    caption.append(readings_line(pool, models, [r for r in TABLE_VII_ROLES if r != "base"], seed_list, epsilon, None))
    attrs = {"stem": "table_vii", "title": f"Table VII (DeepEutaxy): {paper.get('title', '')}", "caption": caption}
    attrs["short"] = TEXT["table_vii"]["short"]
    return values_frame(entries, attrs)


def build_table_vii(runs: RunCollection, base_runs: RunCollection | None = None, **options: Any) -> pd.DataFrame:
    """Table VII in the paper's layout (rows = Base/SPL/DE/SPL+DE; per model three columns x paper/ours/diff)."""
    return widen(table_vii_values(runs, base_runs, **options), index_name="Method")
