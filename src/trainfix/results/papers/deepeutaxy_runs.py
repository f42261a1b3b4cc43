"""DeepEutaxy's view of the runs: strategy labels, table rows, Table VII roles, which runs a table takes.

Columns added to `RunCollection.runs` (and `row`, `strategy`, `table_vii_role` to its epochs):
- `strategy`: BL, SPL, DE or SPL+DE from `config.strategy._target_` (other classes: their name).
- `row`: `config.experiment_row`, else the model name plus `_clr` under CyclicLR ("MobileNetV2-2").
- `table_vii_role`: base / spl / de / spl_de from `config.table_vii_role` (the strategy group names
  `deepeutaxy` and `spl_deepeutaxy` that the Table VII experiments write are mapped to de / spl_de).
- `epsilon`: Eq. 12's threshold, `config.convergence.epsilon` (default 0.01, the paper's).
With `train_measure="code"`, training accuracy/loss are read as the authors' code measured them (DE,
SPL+DE and Table VII's SPL continuation: running mean in training mode; BL and SPL, Base included: the
eval-mode pass) instead of the eval-mode pass for every strategy ("same", the default).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from trainfix.results.cells import OFF_PROTOCOL
from trainfix.results.collect import RunCollection, collect_runs
from trainfix.results.paper import load_paper

LABELS = load_paper("deepeutaxy_tables")["labels"]  # names the tables print (paper/deepeutaxy_tables.yaml)
STRATEGY_LABELS: dict[str, str] = LABELS["strategies"]  # config.strategy._target_ -> BL, SPL, DE, SPL+DE
STRATEGIES = ("BL", "SPL", "DE")
ROW_LABELS: dict[str, str] = LABELS["rows"]  # table row key -> the paper's name, in the paper's order
TABLE_VII_ROLES: dict[str, str] = LABELS["table_vii_roles"]
TABLE_VII_ROLE_ALIASES = {"deepeutaxy": "de", "spl_deepeutaxy": "spl_de", "spl+de": "spl_de"}
DEFAULT_EPSILON = 0.01
TRAIN_MEASURES = ("same", "code")
# How the authors' code measured training accuracy: BL and SPL (SPL.py, Table VII's Base) with
# `evaluate` after the epoch (eval mode, our train_eval_*); DE and SPL+DE with Keras `fit` history
# (running mean in training mode, our train_*), and so Table VII's SPL row too: the code continues
# SPL with `SPL+DE.py -u 0`, the same fit loop without the reordering.
CODE_MEASURES_FIT_HISTORY = ("DE", "SPL+DE")
CODE_MEASURES_FIT_HISTORY_ROLES = ("spl", "spl_de", "de")


def table_vii_role(config: dict[str, Any]) -> str | None:
    role = config.get("table_vii_role")
    return None if role is None else TABLE_VII_ROLE_ALIASES.get(str(role).lower(), str(role).lower())


def _row(config: dict[str, Any], row: Any) -> Any:
    scheduler = (config.get("scheduler") or {}).get("scheduler") or {}
    cyclic = isinstance(scheduler, dict) and str(scheduler.get("_target_", "")).endswith("CyclicLR")
    return f"{row}_clr" if cyclic and row is not None and not config.get("experiment_row") else row


def label_runs(runs: RunCollection, train_measure: str = "same") -> RunCollection:
    """`runs` with DeepEutaxy's columns (see the module docstring); a labelled collection is returned as is."""
    if train_measure not in TRAIN_MEASURES:
        raise ValueError(f"train_measure={train_measure!r} is not accepted; use one of {list(TRAIN_MEASURES)}")
    if "table_vii_role" in runs.runs.columns:
        return runs
    frame = runs.runs.copy()
    configs = [runs.configs.get(run_id) or {} for run_id in frame["run_id"]]
    frame["strategy"] = [
        STRATEGY_LABELS.get(t, s) if isinstance(t, str) else s
        for t, s in zip(frame["strategy_target"], frame["strategy"])
    ]
    frame["row"] = [_row(c, r) for c, r in zip(configs, frame["row"])]
    frame["table_vii_role"] = [table_vii_role(c) for c in configs]
    frame["epsilon"] = [float((c.get("convergence") or {}).get("epsilon", DEFAULT_EPSILON)) for c in configs]
    fit_history = (train_measure == "code") & (
        frame["strategy"].isin(CODE_MEASURES_FIT_HISTORY)
        | frame["table_vii_role"].isin(CODE_MEASURES_FIT_HISTORY_ROLES)
    )
    fit_history &= frame["n_epochs"] > 0
    frame.loc[fit_history, "train_acc_column"] = "train_acc"
    frame.loc[fit_history, "train_loss_column"] = "train_loss"
    epochs = runs.epochs.copy()
    for column in ("row", "strategy", "table_vii_role"):
        epochs[column] = epochs["run_id"].map(dict(zip(frame["run_id"], frame[column])))
    if len(epochs):
        refit = epochs["run_id"].isin(set(frame.loc[fit_history, "run_id"]))
        epochs.loc[refit, "train_acc_used"] = epochs.loc[refit, "train_acc"]
        epochs.loc[refit, "train_loss_used"] = epochs.loc[refit, "train_loss"]
    return replace(runs, runs=frame, epochs=epochs)


def collect_de_runs(root: Path, train_measure: str = "same") -> RunCollection:
    """The run folders under `root`, labelled (`label_runs`)."""
    return label_runs(collect_runs(root), train_measure)


def row_label(row: str) -> str:
    """The paper's name of a table row (`mobilenetv2_clr` -> `MobileNetV2-2`); unknown rows as given."""
    return ROW_LABELS.get(row, row)


def order_rows(rows: list[str]) -> list[str]:
    """Rows in the paper's order, then any others alphabetically."""
    known = [r for r in ROW_LABELS if r in rows]
    return known + sorted(set(rows) - set(known))


def table_rows(pool_runs: pd.DataFrame, rows: Iterable[str] | None) -> list[str]:
    """`rows` when given, else the rows present in `pool_runs`, in the paper's order."""
    return list(rows) if rows is not None else order_rows(sorted(set(pool_runs["row"].dropna())))


def select_runs(
    runs: pd.DataFrame,
    *,
    roles: Iterable[str | None],
    strategies: Iterable[str] | None = None,
    variant: str | None = None,
) -> pd.DataFrame:
    """The identified runs (row, strategy and seed known) with `table_vii_role` in `roles`.

    None in `roles` selects runs without a role (Tables IV-VI). `variant`: keep runs of that
    strategy variant (and runs whose strategy has none, e.g. BL); None: refuse a mix of variants.
    """
    roles = set(roles)
    keep = runs["table_vii_role"].isin({r for r in roles if r is not None})
    if None in roles:
        keep |= runs["table_vii_role"].isna()
    keep &= runs["row"].notna() & runs["strategy"].notna() & runs["seed"].notna()
    if strategies is not None:
        keep &= runs["strategy"].isin(list(strategies))
    chosen = runs[keep]
    variants = sorted({v for v in chosen["variant"].dropna()})
    if variant is None and len(variants) > 1:
        raise ValueError(
            f"the runs mix strategy variants {variants}; choose one with variant= (CLI: --variant {'|'.join(variants)})"
        )
    if variant is not None and len(chosen):
        if variant not in variants:
            raise ValueError(f"variant={variant!r}: no run has it; the runs have {variants or 'no variant'}")
        chosen = chosen[chosen["variant"].isna() | (chosen["variant"] == variant)]
    return chosen


def expected_seeds(runs: pd.DataFrame, seeds: Iterable[int] | None) -> list[int]:
    """`seeds` when given, else every seed found in `runs` (a seed found only in off-protocol runs
    is not expected: an ad-hoc run must not add a "missing" seed to every other cell)."""
    if seeds is not None:
        return sorted({int(s) for s in seeds})
    on_protocol = runs[runs["status"] != OFF_PROTOCOL] if "status" in runs.columns else runs
    return sorted({int(s) for s in (on_protocol if len(on_protocol) else runs)["seed"].dropna()})
