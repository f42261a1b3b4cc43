"""Mini-batch trimming Table 1 (test error %, trimming off / on): paper | ours | diff | vs off, and its figure.

    python -m trainfix.results trimming --runs multirun/trimming_table_1_quick --out results/trimming_table_1_quick

A run's cell (data set, network, arm) comes from its config (`trainfix.strategies.trimming_records.run_cells`):
`data.dataset` (cifar10_jpeg stands for the paper's CIFAR-10, labelled as the copy), `experiment_row` (else the
model name), and the strategy (`Trimming` is on, any other off). Ours, diff and vs off: see the caption in
`published/trimming_tables.yaml`; paper numbers: `published/trimming_table_1.yaml`. The table lists every paper
cell of the networks found and any other (data set, network) the runs hold (paper: `not in paper`). Writes
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
from trainfix.papers.published import declare, load_paper
from trainfix.results.arguments import report_title
from trainfix.results.cells import INTERVAL_NOTE, Aggregate, aggregate_runs, layout, spread_text, versus
from trainfix.results.collect import DATA_MISSING, OK_STATUS, RunCollection, RunsFailedError, collect_runs
from trainfix.results.configs import require_one_configuration
from trainfix.results.report import publish
from trainfix.strategies.trimming_records import curves_figure, run_cells

# Our data sets -> the paper's row (the JPEG copy stands for CIFAR-10, labelled).
PAPER_DATASET = {"svhn": "svhn", "cifar10": "cifar10", "cifar10_jpeg": "cifar10", "cifar100": "cifar100"}
ARMS = ("off", "on")
NOT_IN_PAPER = "not in paper"
TEXT = load_paper("trimming_tables")  # title and caption lines (paper/trimming_tables.yaml)


def dataset_label(dataset: str, cells: pd.DataFrame) -> str:
    """The label the runs recorded (e.g. the JPEG copy's), else the loader's."""
    recorded = sorted({str(x) for x in cells.loc[cells["dataset"] == dataset, "data_label"].dropna()})
    spec = DATASETS.get(dataset)
    return ", ".join(recorded) or (spec.label if spec is not None else str(dataset))


def _ours(runs: pd.DataFrame) -> tuple[str, Aggregate]:
    """One cell's text ('18.00 ± 2.83 (n=2; 1 not finished)', else why it has no number) and its Aggregate."""
    cell = aggregate_runs(runs, "test_error")
    if cell.n:
        others = f"{len(runs) - cell.n} not finished" if len(runs) > cell.n else ""
        return spread_text(f"{cell.mean:.2f}", f"{cell.std:.2f}" if cell.n > 1 else None, [f"n={cell.n}", others]), cell
    statuses = set(runs["status"])
    reason = next((s for s in (DATA_MISSING, "running", "failed", "diverged") if s in statuses), None)
    return reason or "/".join(sorted(statuses)) or "not run", cell


def table_1_values(runs: RunCollection, paper: dict[str, Any] | None = None) -> pd.DataFrame:
    """One row per (dataset, row, arm): paper, ours (mean, std, n, text), diff, statuses; the "on" row also
    on - off (vs_text, vs_off_diff, vs_off_ci_low, vs_off_ci_high: `cells.versus`; "" and nan on the "off" row)."""
    paper = paper or load_paper("trimming_table_1")
    cells = run_cells(runs)
    models_found = set(cells["row"].dropna())
    found = cells[["dataset", "row"]].dropna().drop_duplicates()
    wanted: list[tuple[str, str]] = []
    for paper_dataset in paper["datasets"]:
        for model in (m for m in paper["models"] if m in models_found):
            ours = sorted(
                {d for d in found.loc[found["row"] == model, "dataset"] if PAPER_DATASET.get(d) == paper_dataset}
            )
            wanted += [(d, model) for d in ours] or [(paper_dataset, model)]
    wanted += [key for key in found.itertuples(index=False, name=None) if key not in wanted]
    records = []
    for dataset, model in wanted:
        paper_cell = paper["test_error"].get(PAPER_DATASET.get(dataset, ""), {}).get(model)
        networks = sorted({str(m) for m in cells.loc[cells["row"] == model, "model"].dropna()})
        off: tuple[float, ...] = ()  # the off arm's values, compared with the on arm's
        for arm in ARMS:
            group = cells[(cells["dataset"] == dataset) & (cells["row"] == model) & (cells["arm"] == arm)]
            finished = group.loc[(group["status"] == OK_STATUS) & group["test_error"].notna(), "run_id"]
            require_one_configuration(runs, finished, f"Trimming Table 1, {model} on {dataset}, trimming {arm}")
            text, cell = _ours(group)
            vs_text, vs_columns = versus("off", cell.values if arm == "on" else None, off)
            off = cell.values
            paper_value = float(paper_cell[arm]) if paper_cell else math.nan
            records.append(
                {
                    "dataset": dataset,
                    "dataset_label": dataset_label(dataset, cells),
                    "row": model,
                    "network": paper["models"].get(model) or ", ".join(networks) or model,
                    "arm": arm,
                    "paper": paper_value,
                    "ours_mean": cell.mean,
                    "ours_std": cell.std,
                    "n": cell.n,
                    "ours": text,
                    "diff": cell.mean - paper_value,
                    "statuses": ", ".join(f"{s} {c}" for s, c in group["status"].value_counts().items()),
                    "vs_text": vs_text,
                    **vs_columns,
                }
            )
    return pd.DataFrame(records)


def table_1(values: pd.DataFrame, captions: Iterable[str] = ()) -> pd.DataFrame:
    """Rows "data set / network"; columns (trimming off|on) x (paper, ours, diff), and vs off beside trimming on."""
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
    quick = TEXT["quick"] if "quick" in profiles else ""
    lines = [f"Runs: {runs.root} ({len(cells)} run folders); profile {', '.join(profiles) or 'unknown'}{quick}."]
    lines += [f"Epochs trained by the finished runs: {', '.join(map(str, epochs))}."] if epochs else []
    lines += [f"Data as loaded: {'; '.join(labels)}."] if labels else []
    return lines + ([f"Hardware: {', '.join(devices)}."] if devices else [])


HELP = "mini-batch trimming Table 1 (test error, off / on: paper, ours, diff) and learning curves"
RUNS_HELP = "multirun folder: one sub-folder per run (run.json, metrics.csv)"
OUT_HELP = "folder for the md/csv/tex/png files and report.html"


def add_arguments(trim: argparse.ArgumentParser) -> None:
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
    failed = values[values["ours"].isin(["failed", "diverged"])]  # failed for another reason than missing data
    if args.strict and len(failed):
        cells = ", ".join(f"{r.dataset}/{r.row}/{r.arm}: {r.ours}" for r in failed.itertuples())
        raise RunsFailedError(f"{len(failed)} cells have failed runs ({cells}); see each run folder's run.json")
    return written
