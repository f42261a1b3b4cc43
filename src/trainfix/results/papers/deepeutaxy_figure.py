"""DeepEutaxy Figure 3: per table row, train accuracy, train loss, test accuracy and test loss against
the number of epochs, one line per strategy (BL, SPL, DE) with an error band over seeds.

Line = mean over the seeds whose run finished (and, by default, rose above chance level: see
`deepeutaxy_measures.CHANCE_LEVEL_CHOICES`), at each 1-based epoch; band = min..max over those
seeds (`band="minmax"`, the default) or mean +- 1 standard deviation (`band="std"`). Accuracies are
plotted in percent; losses as recorded, on a log scale when every plotted value is positive (mean
per-sample loss; SPL's training loss is its own objective, so its train-loss curve is not the
cross-entropy of BL/DE). Train accuracy/loss use the
`train_eval_*` columns when a run recorded them, else the running training-mode means
(see `trainfix.results.collect`). Colours follow the paper: DE blue, BL orange, SPL green.
Rendered with matplotlib's Agg canvas (no display needed).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from trainfix.results.cells import aggregate
from trainfix.results.collect import RunCollection
from trainfix.results.papers.deepeutaxy_captions import TEXT
from trainfix.results.papers.deepeutaxy_measures import chance_line, tables_iv_vi_runs
from trainfix.results.papers.deepeutaxy_runs import (
    STRATEGIES,
    row_label,
)

PANELS = (  # (metrics column, title, y label, scale)
    ("train_acc_used", "train accuracy", "accuracy (%)", 100.0),
    ("train_loss_used", "train loss", "loss", 1.0),
    ("test_acc", "test accuracy", "accuracy (%)", 100.0),
    ("test_loss", "test loss", "loss", 1.0),
)
COLORS = {"DE": "tab:blue", "BL": "tab:orange", "SPL": "tab:green"}
BANDS = {"minmax": "min..max over seeds", "std": "mean +- 1 std over seeds"}


def figure_3_curves(runs: RunCollection, *, band: str = "minmax", **options: Any) -> pd.DataFrame:
    """The plotted numbers: one row per (row, strategy, metric, epoch_number) with mean, low, high
    (the band) and seeds (how many finished runs have that epoch). Accuracies in percent.
    The runs are those the tables count: one per (row, strategy, expected seed), finished, and not at
    chance level unless `chance_level="count"`."""
    if band not in BANDS:
        raise ValueError(f"band={band!r} is not accepted; use one of {sorted(BANDS)}")
    used = tables_iv_vi_runs(runs, **options, resolve=False)
    wanted, pool, seed_list = used.rows, used.pool, used.seeds
    # The run the tables use for each (row, strategy, seed): one per seed even with duplicate folders.
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
    """The figure's caption lines: what line and band are, then profile, data, hardware, seeds,
    convergence reading (not used by the figure) and the train-accuracy column."""
    if band not in BANDS:
        raise ValueError(f"band={band!r} is not accepted; use one of {sorted(BANDS)}")
    used = tables_iv_vi_runs(runs, **options, resolve=False)
    lines = used.caption("iv", uses_convergence=False, duplicates=False)
    header = [TEXT["figure_3"].format(band=BANDS[band])]
    # The provenance's first and last lines are about table cells.
    lines = header + [line for line in lines if not line.startswith(("Paper numbers", "Cells:"))]
    dead = chance_line(used.pool, used.rows, STRATEGIES, used.seeds, "curves")
    return lines + ([dead] if dead else [])


def figure_3(runs: RunCollection, *, band: str = "minmax", **options: Any) -> Figure:
    """Figure 3: a (rows x 4) grid of panels under a one-line title; the caption (`figure_3_caption`) goes to the
    report and the PNG's Description."""
    curves = figure_3_curves(runs, band=band, **options)
    used = tables_iv_vi_runs(runs, **options, resolve=False)
    selected, pool, seed_list, wanted = used.selected, used.pool, used.seeds, used.rows
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
