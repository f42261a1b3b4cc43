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
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from trainfix.data.catalogue import DATASETS
from trainfix.results.arguments import add_runs_out, report_title
from trainfix.results.cells import INTERVAL_NOTE, aggregate_runs, difference_columns, layout, versus
from trainfix.results.collect import DATA_MISSING, OK_STATUS, RunCollection, RunsFailedError, collect_runs
from trainfix.results.configs import require_one_configuration
from trainfix.results.paper import declare, load_paper
from trainfix.results.report import publish
from trainfix.strategies.trimming_records import curves_figure, run_cells

# Our data sets -> the paper's row (the JPEG copy and the CIFAR-10 subset stand for CIFAR-10, labelled).
PAPER_DATASET = {"svhn": "svhn", "cifar10": "cifar10", "cifar10_jpeg": "cifar10", "cifar100": "cifar100"}
ARMS = ("off", "on")
NOT_IN_PAPER = "not in paper"
TEXT = load_paper("trimming_tables")  # title and caption lines (paper/trimming_tables.yaml)


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
        text, columns = versus("off", counted["on"], counted["off"])
        records[-1].update(vs_text=text, **columns)
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
    table = declare(layout(cells, "Dataset / network"), TEXT["table_1"], interval=INTERVAL_NOTE)
    table.attrs["caption"] = [*table.attrs["caption"], *captions]
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
        + (TEXT["quick"] if "quick" in profiles else "")
        + "."
    ]
    if epochs:
        lines.append(f"Epochs trained by the finished runs: {', '.join(map(str, epochs))}.")
    if labels:
        lines.append(f"Data as loaded: {'; '.join(labels)}.")
    if devices:
        lines.append(f"Hardware: {', '.join(devices)}.")
    return lines


def failed_cells(values: pd.DataFrame) -> pd.DataFrame:
    """Cells whose runs failed for another reason than missing data (what `--strict` refuses)."""
    return values[values["ours"].isin(["failed", "diverged"])]


# --------------------------------------------------------------------------- command line
HELP = "mini-batch trimming Table 1 (test error, off / on: paper, ours, diff) and learning curves"


def add_arguments(trim: argparse.ArgumentParser) -> None:
    add_runs_out(
        trim,
        "multirun folder: one sub-folder per run (run.json, metrics.csv)",
        "folder for the md/csv/tex/png files and report.html",
    )
    trim.add_argument(
        "--strict", action="store_true", help="exit 1 when a cell's runs failed for another reason than missing data"
    )


def build(args: argparse.Namespace) -> list[Path]:
    """Table 1 (md/csv/tex + values), the learning-curve figure and the HTML report into args.out."""
    runs = collect_runs(args.runs)
    values = table_1_values(runs)
    figures = []
    caption = " ".join([TEXT["figure"], *provenance(runs)])
    try:
        figures.append(("figure_curves.png", caption, curves_figure(runs, TEXT["figure_title"]), caption))
    except ValueError as exc:  # nothing finished yet: the tables and report still say why
        print(f"note: figure skipped: {exc}", file=sys.stderr)
    written = publish(
        runs,
        args.out,
        report_title(args, TEXT["report_title"]),
        tables=[(table_1(values, provenance(runs)), None)],
        frames=[("table_1_values.csv", values)],
        figures=figures,
        note=args.note,
    )
    failed = failed_cells(values)
    if args.strict and len(failed):
        cells = ", ".join(f"{r.dataset}/{r.row}/{r.arm}: {r.ours}" for r in failed.itertuples())
        raise RunsFailedError(f"{len(failed)} cells have failed runs ({cells}); see each run folder's run.json")
    return written
