"""LEAP Table 1, the convergence curves and the 2-D embedding plots, from run folders.

    python -m trainfix.results leap --runs multirun/leap_table_1_quick --out results/leap_table_1_quick [--rows mnist]

Writes table_1.md/.csv/.tex, table_1_values.csv, table_1_runs.csv (per run: final and best epoch), curves.csv,
curves.png, embedding.png and report.html.
Paper numbers come from `trainfix/results/paper/leap_table_1.yaml`, never from code. A run counts
when it finished; "ours" for a cell is the mean +- standard deviation (ddof 1) over seeds of the
final test accuracy in percent (the last epoch's `test_acc`), and diff = ours - paper. "ours (best epoch)"
is the same over each run's highest per-epoch test accuracy (the authors' trainer.py reports that
`best_acc`; it is chosen on the test set, so biased upward). "vs Random", "vs SPLD": LEAP - Random,
SPLD - Random and LEAP - SPLD of the final means with the 95 % Welch t interval over seeds (the
comparisons the paper's text makes; `cells.difference`). A cell shows
`data missing` when its runs failed for absent data files, `not run` when no run was found, and
`running (n)` when runs exist but none finished. Each data set's label is the one its runs
recorded (e.g. the JPEG copy of CIFAR-10), so a table never passes one data set off as another.
A cell averages the seeds of one configuration: finished runs of a cell that differ in any other key
(e.g. `strategy.losses`, the update budget) are refused with the key and the two runs named.

Curves (the paper's Figures 2, 4, 6, 7, 9, 10): test accuracy against mini-batch updates
(`global_step` at each epoch end, averaged over seeds), mean over finished seeds with a min..max
band, one line per method; below it, the share of the training set selected for the next epoch.
Embedding plots (Figures 3b, 5b, 8b, 11b): the 2-D embedding of the first-seeded LEAP run's last
refresh (`leap_embedding.csv`: a fixed draw of 2,000 training samples coloured by class, and the
cluster centres as black crosses).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from trainfix.results.arguments import str_list
from trainfix.results.cells import (
    INTERVAL_NOTE,
    aggregate_runs,
    difference,
    difference_columns,
    difference_text,
    layout,
)
from trainfix.results.collect import DATA_MISSING, OK_STATUS, RunCollection, collect_runs
from trainfix.results.configs import require_one_configuration
from trainfix.results.paper import load_paper
from trainfix.results.report import publish

METHODS = {"Leap": "LEAP", "Spld": "SPLD", "RandomSubset": "Random"}
COLORS = {"LEAP": "tab:blue", "SPLD": "tab:orange", "Random": "tab:green"}
EMBEDDING_FILE = "leap_embedding.csv"
# Baseline -> the methods compared with it (the paper: LEAP improves "over the baselines SPLD and Random").
COMPARISONS = {"Random": ("LEAP", "SPLD"), "SPLD": ("LEAP",)}
RUN_COLUMNS = ["run_id", "row", "method", "seed", "test_acc", "updates", "best_test_acc", "best_epoch", "best_updates"]


def paper_table() -> dict[str, Any]:
    """The transcribed Table 1 (see the YAML file's header)."""
    return load_paper("leap_table_1")


def leap_runs(runs: RunCollection) -> pd.DataFrame:
    """The LEAP/SPLD/Random runs with a `method` column (LEAP, SPLD, Random)."""
    frame = runs.runs.copy()
    frame["method"] = frame["strategy"].map(METHODS)
    return frame[frame["method"].notna()]


def final_values(runs: RunCollection, frame: pd.DataFrame) -> pd.DataFrame:
    """Per finished run: final test accuracy (%) and updates done; best_test_acc = 100 x the highest per-epoch
    test_acc, best_epoch its 1-based epoch (the first one on a tie), best_updates its global_step."""
    rows = []
    for _, run in frame[frame["status"] == OK_STATUS].iterrows():
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


def table_1_values(runs: RunCollection) -> pd.DataFrame:
    """One row per (method, data set): paper mean/std, ours mean/std/n, diff, status, updates, data label; the
    best epoch's mean/std (ours_best_mean, ours_best_std); per baseline of COMPARISONS the difference of the final
    means, vs_<baseline>_text/_diff/_ci_low/_ci_high ("" and nan where the method is not compared with it)."""
    paper = paper_table()
    frame = leap_runs(runs)
    finals = final_values(runs, frame)
    out = []
    counted: dict[tuple[str, str], tuple[float, ...]] = {}
    for method, cells in paper["test_acc"].items():
        for row, (p_mean, p_std) in cells.items():
            mine = frame[(frame["method"] == method) & (frame["row"] == row)]
            done = finals[(finals["method"] == method) & (finals["row"] == row)]
            require_one_configuration(runs, done["run_id"], f"LEAP Table 1, {method} on {row}")
            ours = aggregate_runs(done.assign(status=OK_STATUS), "test_acc")
            best = aggregate_runs(done.assign(status=OK_STATUS), "best_test_acc")
            counted[(method, row)] = ours.values
            if len(done):
                status = OK_STATUS
            elif mine.empty:
                status = "not run"
            elif (mine["status"] == DATA_MISSING).all():
                status = DATA_MISSING
            else:
                status = f"{', '.join(sorted(set(mine['status'])))} ({len(mine)})"
            mean, std = ours.mean, ours.std
            labels = sorted({str(v) for v in mine["data_label"].dropna()})
            out.append(
                {
                    "row": row,
                    "method": method,
                    "dataset": paper["datasets"][row],
                    "data_label": ", ".join(labels),
                    "paper_mean": p_mean,
                    "paper_std": p_std,
                    "paper_runs": paper["runs"][row],
                    "ours_mean": mean,
                    "ours_std": std,
                    "ours_runs": len(done),
                    "diff": mean - p_mean if len(done) else math.nan,
                    "updates": ", ".join(str(u) for u in sorted(set(done["updates"]))),
                    "status": status,
                    "ours_best_mean": best.mean,
                    "ours_best_std": best.std,
                }
            )
    for record in out:
        for baseline, methods in COMPARISONS.items():
            change = None
            text = ""
            if record["method"] in methods:
                change = difference(
                    counted[(record["method"], record["row"])], counted.get((baseline, record["row"]), ())
                )
                text = difference_text(change)
            record[f"vs_{baseline.lower()}_text"] = text
            record.update(difference_columns(baseline, change))
    return pd.DataFrame(out)


def _cell(mean: float, std: float, n: int | None = None) -> str:
    """'97.23 ± 0.06', with n: '97.23 ± 0.06 (n=3)'; '' without a mean."""
    if math.isnan(mean):
        return ""
    text = f"{mean:.2f} ± {std:.2f}" if not math.isnan(std) else f"{mean:.2f}"
    return text if n is None else f"{text} (n={n})"


def table_1(values: pd.DataFrame) -> pd.DataFrame:
    """The paper's layout: methods as rows; per data set the columns paper | ours (final) | ours (best epoch) | diff |
    vs Random | vs SPLD."""
    cells = []
    for row in dict.fromkeys(values["row"]):
        part = values[values["row"] == row]
        label = part["dataset"].iloc[0]
        recorded = part["data_label"].iloc[0]
        if recorded and recorded.replace("-", "").lower() != label.rstrip("*").replace("-", "").lower():
            label = f"{label} [{recorded}]"
        for _, cell in part.iterrows():
            finished = cell["status"] == OK_STATUS
            n = int(cell["ours_runs"])
            texts = {
                "paper": _cell(cell["paper_mean"], cell["paper_std"]),
                "ours (final)": _cell(cell["ours_mean"], cell["ours_std"], n) if finished else cell["status"],
                "ours (best epoch)": _cell(cell["ours_best_mean"], cell["ours_best_std"], n) if finished else "",
                "diff": f"{cell['diff']:+.2f}" if finished else "",
            }
            texts.update({f"vs {baseline}": cell[f"vs_{baseline.lower()}_text"] for baseline in COMPARISONS})
            cells.append((cell["method"], label, texts))
    table = layout(cells, "Sampling method")
    updates = {r: u for r, u in zip(values["row"], values["updates"]) if u}
    table.attrs.update(
        {
            "stem": "table_1",
            "title": paper_table()["title"],
            "caption": [
                "paper: LEAP Table 1 (mean ± std over 5 runs; 4 for CIFAR-100 and SVHN; * no augmentation). ours: "
                "mean ± std (ddof 1) over finished seeds of the final test accuracy; (n=k) "
                "= seeds counted; diff = ours - paper mean.",
                "ours (best epoch): the same over each run's highest per-epoch test accuracy (per run in "
                "table_1_runs.csv: best_test_acc, best_epoch, best_updates); best epoch = highest per-epoch test "
                "accuracy, as the authors' trainer.py best_acc; chosen on the test set, so biased upward.",
                "vs Random, vs SPLD: LEAP - Random, SPLD - Random and LEAP - SPLD of the final mean test accuracies "
                f"(percentage points) [{INTERVAL_NOTE}].",
                "updates per run (ours): "
                + ("; ".join(f"{r}: {u}" for r, u in updates.items()) or "none finished")
                + ". The authors' code stops MNIST/Fashion-MNIST at 23,400 updates and CIFAR at 78,000.",
                "A data set label in brackets is the copy the runs read (e.g. the lossy JPEG CIFAR-10, "
                "ordered by class).",
            ],
        }
    )
    return table


CURVE_METRICS = (  # (metrics column, y label, scale)
    ("test_acc", "test accuracy (%)", 100.0),
    ("selected_frac_next", "selected for next epoch (%)", 100.0),
)


def curves(runs: RunCollection) -> pd.DataFrame:
    """Per (row, method, metric, epoch): the seeds' mean update count, and mean, min, max over finished
    seeds (percent)."""
    frame = leap_runs(runs)
    finished = frame[frame["status"] == OK_STATUS][["run_id", "method"]]
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


def embedding_points(runs: RunCollection) -> dict[str, pd.DataFrame]:
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


# --------------------------------------------------------------------------- command line
HELP = "LEAP Table 1 (paper, ours, diff), convergence curves, 2-D embeddings, report.html"


def add_arguments(leap: argparse.ArgumentParser) -> None:
    leap.add_argument("--runs", type=Path, required=True, help="multirun folder of LEAP/SPLD/Random runs")
    leap.add_argument(
        "--out",
        type=Path,
        required=True,
        help="folder for table_1.md/.csv/.tex, curves.png, embedding.png, report.html",
    )
    leap.add_argument(
        "--rows", type=str_list, help="Table 1 columns (data sets), e.g. mnist,fashion_mnist (default: all five)"
    )


def build(args: argparse.Namespace) -> list[Path]:
    """Table 1, its curves and embedding plots, and the HTML report into args.out."""
    runs = collect_runs(args.runs)
    values = table_1_values(runs)
    if args.rows:
        known = list(dict.fromkeys(values["row"]))
        unknown = [row for row in args.rows if row not in known]
        if unknown:
            raise ValueError(f"--rows {','.join(unknown)}: not a LEAP Table 1 data set; accepted: {','.join(known)}")
        values = values[values["row"].isin(args.rows)].reset_index(drop=True)
    curve_data = curves(runs)
    curve_caption = (
        "Test accuracy (%) against mini-batch updates, mean over finished seeds (band: min..max), "
        "LEAP vs SPLD vs Random (the paper's Figures 2, 4, 6, 7, 9, 10)."
    )
    embed_caption = (
        "The 2-D Magnet-loss embedding of the training set at the LEAP run's last refresh (2,000 samples, "
        "coloured by class; crosses: the K clusters per class), the paper's Figures 3b, 5b, 8b, 11b."
    )
    figures = [
        ("curves.png", curve_caption, curves_figure(curve_data), curve_caption),
        ("embedding.png", embed_caption, embedding_figure(embedding_points(runs)), embed_caption),
    ]
    return publish(
        runs,
        args.out,
        f"LEAP reproduction: {args.runs}",
        tables=[(table_1(values), None)],
        frames=[
            ("curves.csv", curve_data),
            ("table_1_values.csv", values),
            ("table_1_runs.csv", final_values(runs, leap_runs(runs))),
        ],
        figures=figures,
    )
