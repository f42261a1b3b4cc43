"""DeepEutaxy Figure 3: per table row, train/test accuracy and loss per 1-based epoch, one line per strategy (BL,
SPL, DE; the paper's colours) with an error band over the seeds the tables count (finished, not at chance level
unless counted): mean, and min..max (`band="minmax"`) or mean +- 1 std (`band="std"`). Accuracies in percent; losses
as recorded, on a log scale when all positive (SPL's train loss is its own objective, not BL/DE's cross-entropy).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from trainfix.papers.deepeutaxy_runs import (
    STRATEGIES,
    TEXT,
    TableRuns,
    chance_line,
    row_label,
    tables_iv_vi_runs,
)
from trainfix.results.cells import aggregate
from trainfix.results.collect import RunCollection

PANELS = (  # (metrics column, title, y label, scale)
    ("train_acc_used", "train accuracy", "accuracy (%)", 100.0),
    ("train_loss_used", "train loss", "loss", 1.0),
    ("test_acc", "test accuracy", "accuracy (%)", 100.0),
    ("test_loss", "test loss", "loss", 1.0),
)
COLORS = {"DE": "tab:blue", "BL": "tab:orange", "SPL": "tab:green"}
BANDS = {"minmax": "min..max over seeds", "std": "mean +- 1 std over seeds"}


def figure_3_curves(runs: RunCollection, *, band: str = "minmax", **options: Any) -> pd.DataFrame:
    """The plotted numbers: one row per (row, strategy, metric, epoch_number) with mean, low, high (the band) and
    seeds (how many counted runs have that epoch; one run per seed as in the tables). Accuracies in percent."""
    used = _figure_runs(runs, band, options)
    wanted, pool, seed_list = used.rows, used.pool, used.seeds
    chosen = {
        run["run_id"]
        for row in wanted
        for strategy in STRATEGIES
        for _, run in pool.seed_runs(row, strategy, seed_list)
        if pool.counted(run)
    }
    epochs = used.runs.epochs[used.runs.epochs["run_id"].isin(chosen)]
    frames = []
    for column, _, _, scale in PANELS:
        values = epochs.assign(value=epochs[column] * scale)
        grouped = values.groupby(["row", "strategy", "epoch_number"])["value"]
        stats = grouped.agg(["mean", "min", "max", "std", "count"]).reset_index()
        if band == "minmax":
            stats["low"], stats["high"] = stats["min"], stats["max"]
        else:
            spread = stats["std"].fillna(0.0)
            stats["low"], stats["high"] = stats["mean"] - spread, stats["mean"] + spread
        frames.append(stats.assign(metric=column).rename(columns={"count": "seeds"}))
    columns = ["row", "strategy", "metric", "epoch_number", "mean", "low", "high", "seeds"]
    return pd.concat(frames, ignore_index=True)[columns]


def figure_3_caption(runs: RunCollection, *, band: str = "minmax", **options: Any) -> list[str]:
    """The caption lines: what line and band are, then the tables' provenance lines but those about table cells."""
    used = _figure_runs(runs, band, options)
    return [
        TEXT["figure_3"].format(band=BANDS[band]),
        *used.caption(None, uses_convergence=False, duplicates=False),
        *chance_line(used.pool, used.rows, STRATEGIES, used.seeds, "curves"),
    ]


def _figure_runs(runs: RunCollection, band: str, options: dict[str, Any]) -> TableRuns:
    if band not in BANDS:
        raise ValueError(f"band={band!r} is not accepted; use one of {sorted(BANDS)}")
    return tables_iv_vi_runs(runs, **options, resolve=False)


def figure_3(runs: RunCollection, *, band: str = "minmax", **options: Any) -> Figure:
    """Figure 3: a (rows x 4) grid of panels under a one-line title; the caption (`figure_3_caption`) goes to the
    report and the PNG's Description."""
    curves = figure_3_curves(runs, band=band, **options)
    used = _figure_runs(runs, band, options)
    selected, pool, seed_list, wanted = used.pool.runs, used.pool, used.seeds, used.rows
    if not wanted:
        raise ValueError(f"{runs.root}: no BL/SPL/DE runs to plot")
    figure = Figure(figsize=(16, 3.3 * len(wanted) + 0.5), layout="constrained")
    axes = figure.subplots(len(wanted), len(PANELS), squeeze=False)
    for i, row in enumerate(wanted):
        data_labels = (
            ", ".join(sorted({str(x) for x in selected.loc[selected["row"] == row, "data_label"].dropna()}))
            or "data not loaded"
        )
        for j, (column, title, ylabel, _) in enumerate(PANELS):
            ax = axes[i][j]
            for strategy in STRATEGIES:
                line = curves[(curves["row"] == row) & (curves["strategy"] == strategy) & (curves["metric"] == column)]
                seeds_cell = aggregate("text", pool.outcomes(row, strategy, seed_list, lambda metrics, run: 1.0))
                if line.empty:
                    ax.plot(
                        [], [], color=COLORS[strategy], label=f"{strategy}: {seeds_cell.text_if_none or 'no epochs'}"
                    )
                    continue
                label = f"{strategy} ({seeds_cell.used}/{seeds_cell.expected} seeds)"
                ax.plot(line["epoch_number"], line["mean"], color=COLORS[strategy], label=label, linewidth=1.4)
                ax.fill_between(
                    line["epoch_number"], line["low"], line["high"], color=COLORS[strategy], alpha=0.2, linewidth=0
                )
            ax.set_title(f"{row_label(row)} ({data_labels}): {title}", fontsize=9)
            ax.set_xlabel("epoch (1-based)")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel(ylabel)
            panel = curves[(curves["row"] == row) & (curves["metric"] == column)]
            if "loss" in column and len(panel) and float(panel[["mean", "low"]].min().min()) > 0:
                # Losses span orders of magnitude (a collapsed network's loss in the thousands next to 0.01).
                ax.set_yscale("log")
                ax.set_ylabel(f"{ylabel} (log scale)")
            ax.grid(alpha=0.3)
            if j == 0:
                ax.legend(fontsize=8, loc="best")
    figure.suptitle(TEXT["figure_3"].format(band=BANDS[band]), fontsize=10)
    return figure
