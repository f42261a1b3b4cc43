"""Mini-batch trimming's records read back for its Table 1 and figure: one row per run with its arm (trimming on
or off, from the run's strategy), data set, network and final test error, and the learning curves (test error,
training loss and the kept count r per epoch, off vs on). `runs` below is a collection of run records with
`.runs`, `.epochs`, `.configs` and `.root` (the results layer's `RunCollection`); the table is declared by
`trainfix.papers.trimming`.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from trainfix.core.records import FINISHED

TRIMMING_TARGET = "trainfix.strategies.trimming.Trimming"


def run_cells(runs: Any) -> pd.DataFrame:
    """One row per run: run_id, status, seed, dataset, row (network), arm (off/on), test error (%) of
    the final epoch, epochs recorded, data label, error."""
    rows = []
    last = runs.epochs.sort_values("epoch").groupby("run_id").last() if len(runs.epochs) else pd.DataFrame()
    for run in runs.runs.itertuples():
        config = runs.configs.get(run.run_id, {})
        dataset = (config.get("data") or {}).get("dataset")
        target = (config.get("strategy") or {}).get("_target_")
        test_acc = last["test_acc"].get(run.run_id, math.nan) if "test_acc" in last else math.nan
        rows.append(
            {
                "run_id": run.run_id,
                "status": run.status,
                "seed": run.seed,
                "dataset": dataset,
                "row": run.row,
                "model": run.model,
                "arm": "on" if target == TRIMMING_TARGET else "off",
                "strategy": run.strategy,
                "test_error": 100.0 * (1.0 - float(test_acc)) if pd.notna(test_acc) else math.nan,
                "epochs": run.n_epochs,
                "data_label": run.data_label,
                "error": run.error,
                "profile": run.profile,
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "run_id",
            "status",
            "seed",
            "dataset",
            "row",
            "model",
            "arm",
            "strategy",
            "test_error",
            "epochs",
            "data_label",
            "error",
            "profile",
        ],
    )


def curves_figure(runs: Any, heading: str) -> Figure:
    """Per (data set, network) with finished runs: test error (%) and training loss per epoch, trimming off
    vs on, mean over finished seeds with a mean ± 1 std band; and the kept count r of a full batch. `heading`: the
    one-line title above the panels (the caption belongs beside the image)."""
    cells = run_cells(runs)
    done = cells[cells["status"] == FINISHED]
    groups = done[["dataset", "row"]].drop_duplicates().itertuples(index=False)
    groups = list(groups)
    if not groups:
        raise ValueError(f"{runs.root}: no finished run to plot")
    panels = (
        ("test_error", "test error (%)"),
        ("train_loss", "training loss (plain mean CE)"),
        ("trim_r", "r kept of a full batch"),
    )
    figure = Figure(figsize=(15, 3.3 * len(groups) + 0.5), layout="constrained")
    axes = figure.subplots(len(groups), len(panels), squeeze=False)
    epochs = runs.epochs.assign(test_error=100.0 * (1.0 - runs.epochs["test_acc"]))
    for i, (dataset, model) in enumerate(groups):
        for j, (column, title) in enumerate(panels):
            ax = axes[i][j]
            for arm, color in (("off", "tab:orange"), ("on", "tab:blue")):
                ids = done[(done["dataset"] == dataset) & (done["row"] == model) & (done["arm"] == arm)]["run_id"]
                values = epochs[epochs["run_id"].isin(ids)]
                if column not in values.columns or not values[column].notna().any():
                    continue
                stats = values.groupby("epoch_number")[column].agg(["mean", "std"])
                spread = stats["std"].fillna(0.0)
                ax.plot(
                    stats.index, stats["mean"], color=color, linewidth=1.4, label=f"trimming {arm} ({len(ids)} runs)"
                )
                ax.fill_between(
                    stats.index, stats["mean"] - spread, stats["mean"] + spread, color=color, alpha=0.2, linewidth=0
                )
            ax.set_title(f"{dataset} / {model}: {title}", fontsize=9)  # the full data label is in the caption
            ax.set_xlabel("epoch (1-based)")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8, loc="best")
    figure.suptitle(heading, fontsize=10)
    return figure
