"""LEAP's records read back for its Table 1 and figures: the LEAP/SPLD/Random runs with their method, each
finished run's final and best epoch, the convergence curves (test accuracy and the selected share against
mini-batch updates, the paper's Figures 2, 4, 6, 7, 9, 10) and the 2-D embedding the LEAP strategy writes at its
last refresh (`leap_embedding.csv`, Figures 3b, 5b, 8b, 11b). `runs` below is a collection of run records with
`.runs`, `.epochs` and `.metrics(run_id)` (the results layer's `RunCollection`); the table itself is declared by
`trainfix.papers.leap`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from trainfix.core.records import FINISHED
from trainfix.strategies.leap.leap import EMBEDDING_FILE

METHODS = {"Leap": "LEAP", "Spld": "SPLD", "RandomSubset": "Random"}
COLORS = {"LEAP": "tab:blue", "SPLD": "tab:orange", "Random": "tab:green"}
RUN_COLUMNS = ["run_id", "row", "method", "seed", "test_acc", "updates", "best_test_acc", "best_epoch", "best_updates"]


def leap_runs(runs: Any) -> pd.DataFrame:
    """The LEAP/SPLD/Random runs with a `method` column (LEAP, SPLD, Random)."""
    frame = runs.runs.copy()
    frame["method"] = frame["strategy"].map(METHODS)
    return frame[frame["method"].notna()]


def final_values(runs: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """Per finished run: final test accuracy (%) and updates done; best_test_acc = 100 x the highest per-epoch
    test_acc, best_epoch its 1-based epoch (the first one on a tie), best_updates its global_step."""
    rows = []
    for _, run in frame[frame["status"] == FINISHED].iterrows():
        metrics = runs.metrics(run["run_id"])
        if metrics.empty or "test_acc" not in metrics:
            continue
        last = metrics.iloc[-1]
        best = metrics.loc[metrics["test_acc"].idxmax()]
        rows.append(
            {
                "run_id": run["run_id"],
                "row": run["row"],
                "method": run["method"],
                "seed": run["seed"],
                "test_acc": 100.0 * float(last["test_acc"]),
                "updates": int(last["global_step"]),
                "best_test_acc": 100.0 * float(best["test_acc"]),
                "best_epoch": int(best["epoch"]) + 1,
                "best_updates": int(best["global_step"]),
            }
        )
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


CURVE_METRICS = (  # (metrics column, y label, scale)
    ("test_acc", "test accuracy (%)", 100.0),
    ("selected_frac_next", "selected for next epoch (%)", 100.0),
)


def curves(runs: Any) -> pd.DataFrame:
    """Per (row, method, metric, epoch): the seeds' mean update count, and mean, min, max over finished
    seeds (percent)."""
    frame = leap_runs(runs)
    finished = frame[frame["status"] == FINISHED][["run_id", "method"]]
    epochs = runs.epochs.merge(finished, on="run_id")
    columns = ["row", "method", "metric", "epoch", "updates", "mean", "low", "high", "seeds"]
    parts = []
    for metric, _, scale in CURVE_METRICS:
        if epochs.empty or metric not in epochs:
            continue
        # Seeds select different counts, so epoch e ends at slightly different updates: one point per
        # epoch, at the seeds' mean update count.
        values = epochs.assign(value=scale * epochs[metric])
        grouped = values.groupby(["row", "method", "epoch"])
        stats = (
            grouped["value"]
            .agg(["mean", "min", "max", "count"])
            .join(grouped["global_step"].mean().rename("updates"))
            .reset_index()
        )
        parts.append(stats.rename(columns={"min": "low", "max": "high", "count": "seeds"}).assign(metric=metric))
    return pd.concat(parts)[columns] if parts else pd.DataFrame(columns=columns)


def curves_figure(data: pd.DataFrame) -> Figure:
    """One column per data set: test accuracy (top) and the selected share (bottom) against mini-batch
    updates, LEAP vs SPLD vs Random."""
    rows = list(dict.fromkeys(data["row"])) or ["(no finished runs)"]
    figure = Figure(figsize=(4.2 * len(rows), 6.4), layout="constrained")
    axes = figure.subplots(len(CURVE_METRICS), len(rows), squeeze=False)
    for col, row in enumerate(rows):
        for line_no, (metric, label, _) in enumerate(CURVE_METRICS):
            ax = axes[line_no][col]
            part = data[(data["row"] == row) & (data["metric"] == metric)]
            for method in ("LEAP", "SPLD", "Random"):
                line = part[part["method"] == method]
                if line.empty:
                    continue
                ax.plot(
                    line["updates"],
                    line["mean"],
                    marker="o",
                    ms=3,
                    color=COLORS[method],
                    lw=2 if method == "LEAP" else 1.2,
                    label=f"{method} (n={int(line['seeds'].max())})",
                )
                ax.fill_between(line["updates"], line["low"], line["high"], color=COLORS[method], alpha=0.2)
            ax.set_title(row if line_no == 0 else "")
            ax.set_xlabel("mini-batch updates")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
            if not part.empty:
                ax.legend(fontsize=8)
    return figure


def embedding_points(runs: Any) -> dict[str, pd.DataFrame]:
    """Per data set: the `leap_embedding.csv` of its LEAP run with the smallest seed that wrote one."""
    frame = leap_runs(runs)
    out: dict[str, pd.DataFrame] = {}
    for _, run in frame[frame["method"] == "LEAP"].sort_values("seed").iterrows():
        path = Path(run["path"]) / EMBEDDING_FILE
        if run["row"] not in out and path.exists():
            out[run["row"]] = pd.read_csv(path).assign(seed=run["seed"])
    return out


def embedding_figure(points: dict[str, pd.DataFrame]) -> Figure:
    """The 2-D embedding per data set, coloured by class, with the cluster centres."""
    rows = list(points) or ["(no LEAP embedding recorded)"]
    figure = Figure(figsize=(4.0 * len(rows), 3.8), layout="constrained")
    axes = figure.subplots(1, len(rows), squeeze=False)[0]
    for ax, row in zip(axes, rows, strict=True):
        if row not in points:
            ax.set_axis_off()
            continue
        frame = points[row]
        samples, centres = frame[frame["kind"] == "sample"], frame[frame["kind"] == "centre"]
        scatter = ax.scatter(samples["x"], samples["y"], c=samples["label"], cmap="tab10", s=4, alpha=0.7)
        ax.scatter(centres["x"], centres["y"], marker="x", c="black", s=25, linewidths=1)
        ax.set_title(f"{row}: LEAP embedding (seed {int(frame['seed'].iloc[0])})", fontsize=9)
        figure.colorbar(scatter, ax=ax, label="class")
    return figure
