"""Mini-batch trimming Table 1 (test error %, trimming off / on): paper | ours | diff, and its figure.

    python -m trainfix.results trimming --runs multirun/trimming_table_1_quick --out results/trimming_table_1_quick

A cell is (data set, network, trimming off | on). A run belongs to it by its config: `data.dataset`
(cifar10 and its JPEG copy `cifar10_jpeg` are the paper's CIFAR-10 row, labelled with the copy's name),
`experiment_row` (else the model name), and the strategy: `Trimming` is "on", any other strategy
(shuffle, baseline) is "off". Ours = mean ± sample std (ddof 1) over the cell's finished runs of the
final model's test error, 100 * (1 - test_acc at the last epoch), with the number of runs; diff =
ours - paper in percentage points; "vs off" = on - off of our means with its 95 % Welch t interval over
seeds (`cells.difference`). A cell without a finished run says why: `data missing` (its runs
failed with the data module's DatasetMissingError, which names the files expected), `failed`,
`running`, or `not run`. The table lists every paper cell of the networks found, plus any other
(data set, network) the runs hold (e.g. the CPU evidence on Fashion-MNIST: paper `not in paper`).
Paper numbers are read from `trainfix/results/paper/trimming_table_1.yaml`, never from code. Writes
table_1.md/.csv/.tex, table_1_values.csv, figure_curves.png and report.html.
"""

from __future__ import annotations

import argparse
import math
import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from trainfix.data.catalogue import DATASETS
from trainfix.results.cells import (
    INTERVAL_NOTE,
    aggregate_runs,
    difference,
    difference_columns,
    difference_text,
    layout,
)
from trainfix.results.collect import DATA_MISSING, OK_STATUS, RunCollection, RunsFailedError, collect_runs
from trainfix.results.configs import require_one_configuration
from trainfix.results.paper import load_paper
from trainfix.results.report import publish

TRIMMING_TARGET = "trainfix.strategies.trimming.Trimming"
# Our data sets -> the paper's row (the JPEG copy and the CIFAR-10 subset stand for CIFAR-10, labelled).
PAPER_DATASET = {"svhn": "svhn", "cifar10": "cifar10", "cifar10_jpeg": "cifar10", "cifar100": "cifar100"}
ARMS = ("off", "on")
NOT_IN_PAPER = "not in paper"


def run_cells(runs: RunCollection) -> pd.DataFrame:
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


def dataset_label(dataset: str, cells: pd.DataFrame) -> str:
    """The data set as the table prints it: the label the runs recorded (e.g. the JPEG copy's), else the loader's."""
    recorded = sorted({str(x) for x in cells.loc[cells["dataset"] == dataset, "data_label"].dropna()})
    if recorded:
        return ", ".join(recorded)
    spec = DATASETS.get(dataset)
    return spec.label if spec is not None else str(dataset)


def _cell_text(runs: pd.DataFrame) -> tuple[str, float, float, int]:
    """(text, mean, std, n) of one cell's runs."""
    cell = aggregate_runs(runs, "test_error")
    if cell.n:
        spread = f" ± {cell.std:.2f}" if cell.n > 1 else ""
        others = len(runs) - cell.n
        note = f"; {others} not finished" if others else ""
        return f"{cell.mean:.2f}{spread} (n={cell.n}{note})", cell.mean, cell.std, cell.n
    statuses = set(runs["status"])
    if not statuses:
        return "not run", math.nan, math.nan, 0
    for status in (DATA_MISSING, "running", "failed", "diverged"):
        if status in statuses:
            return status, math.nan, math.nan, 0
    return "/".join(sorted(statuses)), math.nan, math.nan, 0


def table_1_values(runs: RunCollection, paper: dict[str, Any] | None = None) -> pd.DataFrame:
    """Long frame: one row per (dataset, row, arm) with paper, ours (mean, std, n, text) and diff; the "on" row
    also the difference on - off (vs_text, vs_off_diff, vs_off_ci_low, vs_off_ci_high; "" and nan on the "off" row)."""
    paper = paper or load_paper("trimming_table_1")
    cells = run_cells(runs)
    published = paper["test_error"]
    models_found = set(cells["row"].dropna())
    wanted: list[tuple[str, str]] = []
    for paper_dataset in paper["datasets"]:
        for model in paper["models"]:
            if model in models_found:
                ours = sorted(
                    {
                        d
                        for d in cells.loc[cells["row"] == model, "dataset"].dropna()
                        if PAPER_DATASET.get(d) == paper_dataset
                    }
                )
                wanted += [(d, model) for d in ours] or [(paper_dataset, model)]
    for dataset, model in cells[["dataset", "row"]].dropna().drop_duplicates().itertuples(index=False):
        if (dataset, model) not in wanted:
            wanted.append((dataset, model))
    records = []
    for dataset, model in wanted:
        paper_cell = published.get(PAPER_DATASET.get(dataset, ""), {}).get(model)
        networks = sorted({str(m) for m in cells.loc[cells["row"] == model, "model"].dropna()})
        network = paper["models"].get(model) or ", ".join(networks) or model
        counted = {}
        for arm in ARMS:
            group = cells[(cells["dataset"] == dataset) & (cells["row"] == model) & (cells["arm"] == arm)]
            finished = group.loc[(group["status"] == OK_STATUS) & group["test_error"].notna(), "run_id"]
            require_one_configuration(runs, finished, f"Trimming Table 1, {model} on {dataset}, trimming {arm}")
            text, mean, std, n = _cell_text(group)
            counted[arm] = aggregate_runs(group, "test_error").values
            paper_value = float(paper_cell[arm]) if paper_cell else math.nan
            records.append(
                {
                    "dataset": dataset,
                    "dataset_label": dataset_label(dataset, cells),
                    "row": model,
                    "network": network,
                    "arm": arm,
                    "paper": paper_value,
                    "ours_mean": mean,
                    "ours_std": std,
                    "n": n,
                    "ours": text,
                    "diff": mean - paper_value,
                    "statuses": ", ".join(f"{s} {c}" for s, c in group["status"].value_counts().items()),
                    "vs_text": "",
                    **difference_columns("off", None),
                }
            )
        change = difference(counted["on"], counted["off"])
        records[-1].update(vs_text=difference_text(change), **difference_columns("off", change))
    return pd.DataFrame(records)


def table_1(values: pd.DataFrame, captions: Iterable[str] = ()) -> pd.DataFrame:
    """The paper's layout: rows "data set / network"; columns (trimming off|on) x (paper, ours, diff), and the
    difference on - off beside trimming on."""
    cells = []
    for record in values.itertuples():
        texts = {
            "paper": f"{record.paper:.2f}" if pd.notna(record.paper) else NOT_IN_PAPER,
            "ours": record.ours,
            "diff": f"{record.diff:+.2f}" if pd.notna(record.diff) else "",
        }
        if record.arm == "on":
            texts["vs off"] = record.vs_text
        cells.append((f"{record.dataset_label} / {record.network}", f"trimming {record.arm}", texts))
    table = layout(cells, "Dataset / network")
    table.attrs["title"] = "Mini-batch trimming, Table 1: test error (%) of the final model, trimming off / on"
    table.attrs["caption"] = [
        "Paper numbers: trainfix/results/paper/trimming_table_1.yaml (Fassold, Table 1: means of 10 runs, "
        "no std given).",
        "Ours: mean ± sample std over finished runs of 100 * (1 - test_acc) at the last epoch (n = runs); "
        "diff = ours - paper (percentage points). off = any strategy but trimming (shuffle, baseline).",
        "vs off: on - off of our mean test errors (percentage points; negative = trimming lowers the error) "
        f"[{INTERVAL_NOTE}].",
        "A cell with no finished run says why: data missing (the data module's DatasetMissingError: the official files "
        "are not in the data root), running, failed, not run.",
        *captions,
    ]
    table.attrs["stem"] = "table_1"
    return table


def provenance(runs: RunCollection) -> list[str]:
    """Caption lines: profile, epochs, data labels and hardware of the runs."""
    cells = run_cells(runs)
    profiles = sorted({str(p) for p in cells["profile"].dropna()})
    epochs = sorted({int(e) for e in cells.loc[cells["status"] == OK_STATUS, "epochs"]})
    devices = sorted({str(d) for d in runs.runs["device"].dropna()} | {str(g) for g in runs.runs["gpu"].dropna()})
    labels = sorted({str(x) for x in cells["data_label"].dropna()})
    lines = [
        f"Runs: {runs.root} ({len(cells)} run folders); profile {', '.join(profiles) or 'unknown'}"
        + (" (quick: tiny subsets and epochs, its numbers prove nothing)" if "quick" in profiles else "")
        + "."
    ]
    if epochs:
        lines.append(f"Epochs trained by the finished runs: {', '.join(map(str, epochs))}.")
    if labels:
        lines.append(f"Data as loaded: {'; '.join(labels)}.")
    if devices:
        lines.append(f"Hardware: {', '.join(devices)}.")
    return lines


def curves_figure(runs: RunCollection, band: str = "std") -> Figure:
    """Per (data set, network) with finished runs: test error (%) and training loss per epoch, trimming off
    vs on, mean over finished seeds with a mean ± 1 std band; and the kept count r of a full batch."""
    cells = run_cells(runs)
    done = cells[cells["status"] == OK_STATUS]
    groups = done[["dataset", "row"]].drop_duplicates().itertuples(index=False)
    groups = list(groups)
    if not groups:
        raise ValueError(f"{runs.root}: no finished run to plot")
    panels = (
        ("test_error", "test error (%)"),
        ("train_loss", "training loss (plain mean CE)"),
        ("trim_r", "r kept of a full batch"),
    )
    figure = Figure(figsize=(15, 3.3 * len(groups) + 0.8), layout="constrained")
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
            ax.set_title(f"{dataset} / {model}: {title}", fontsize=9)  # the full data label is in the suptitle
            ax.set_xlabel("epoch (1-based)")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8, loc="best")
    text = "Mini-batch trimming: mean over finished seeds, band = mean ± 1 std. " + " ".join(provenance(runs))
    figure.suptitle(textwrap.fill(text, 190), fontsize=8.5, horizontalalignment="left", x=0.01)
    return figure


def failed_cells(values: pd.DataFrame) -> pd.DataFrame:
    """Cells whose runs failed for another reason than missing data (what `--strict` refuses)."""
    return values[values["ours"].isin(["failed", "diverged"])]


# --------------------------------------------------------------------------- command line
HELP = "mini-batch trimming Table 1 (test error, off / on: paper, ours, diff) and learning curves"


def add_arguments(trim: argparse.ArgumentParser) -> None:
    trim.add_argument(
        "--runs", type=Path, required=True, help="multirun folder: one sub-folder per run (run.json, metrics.csv)"
    )
    trim.add_argument("--out", type=Path, required=True, help="folder for the md/csv/tex/png files and report.html")
    trim.add_argument("--title", help="report title (default: names the runs folder)")
    trim.add_argument(
        "--strict", action="store_true", help="exit 1 when a cell's runs failed for another reason than missing data"
    )


def build(args: argparse.Namespace) -> list[Path]:
    """Table 1 (md/csv/tex + values), the learning-curve figure and the HTML report into args.out."""
    runs = collect_runs(args.runs)
    values = table_1_values(runs)
    figures = []
    try:
        figures.append(
            (
                "figure_curves.png",
                "Learning curves (figure_curves.png): test error, training loss and r per epoch, trimming off vs on.",
                curves_figure(runs),
                " ".join(provenance(runs)),
            )
        )
    except ValueError as exc:  # nothing finished yet: the tables and report still say why
        print(f"note: figure skipped: {exc}", file=sys.stderr)
    written = publish(
        runs,
        args.out,
        args.title or f"Mini-batch trimming: {args.runs}",
        tables=[(table_1(values, provenance(runs)), None)],
        frames=[("table_1_values.csv", values)],
        figures=figures,
    )
    failed = failed_cells(values)
    if args.strict and len(failed):
        cells = ", ".join(f"{r.dataset}/{r.row}/{r.arm}: {r.ours}" for r in failed.itertuples())
        raise RunsFailedError(f"{len(failed)} cells have failed runs ({cells}); see each run folder's run.json")
    return written
