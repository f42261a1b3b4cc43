"""LEAP Table 1, the convergence curves and the 2-D embedding plots, from run folders.

    python -m trainfix.results leap --runs multirun/leap_table_1_quick --out results/leap_table_1_quick [--rows mnist]

Writes table_1.md/.csv/.tex, table_1_values.csv, table_1_runs.csv (per run: final and best epoch), curves.csv,
curves.png, embedding.png (when a LEAP run wrote leap_embedding.csv) and report.html. Paper numbers:
`published/leap_table_1.yaml`; what each column means: the caption in `published/leap_tables.yaml`. A cell pools the
finished seeds of one configuration; without one it says `data missing`, `not run` or its runs' statuses
(`running (1)`). Each data set shows the label its runs recorded (e.g. the JPEG copy of CIFAR-10). The runs,
curves and embeddings are read by `trainfix.strategies.leap.records`.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

from trainfix.papers.published import declare, load_paper
from trainfix.results.arguments import report_title, str_list
from trainfix.results.cells import INTERVAL_NOTE, aggregate_runs, layout, spread_text, versus
from trainfix.results.collect import DATA_MISSING, OK_STATUS, RunCollection, collect_runs
from trainfix.results.configs import require_one_configuration
from trainfix.results.report import publish
from trainfix.strategies.leap import records

TEXT = load_paper("leap_tables")  # caption lines (paper/leap_tables.yaml)
# Baseline -> the methods compared with it (the paper: LEAP improves "over the baselines SPLD and Random").
COMPARISONS = {"Random": ("LEAP", "SPLD"), "SPLD": ("LEAP",)}


def _status(mine: pd.DataFrame, done: pd.DataFrame) -> str:
    """finished, `not run`, `data missing`, or the statuses of a cell's runs and their count."""
    if len(done):
        return OK_STATUS
    if mine.empty:
        return "not run"
    if (mine["status"] == DATA_MISSING).all():
        return DATA_MISSING
    return f"{', '.join(sorted(set(mine['status'])))} ({len(mine)})"


def table_1_values(runs: RunCollection) -> pd.DataFrame:
    """One row per (method, data set): paper_mean/_std/_runs, ours_mean/_std/_runs (final test accuracy %),
    ours_best_mean/_std (each run's best epoch), diff, updates, status, data_label; per baseline of COMPARISONS
    vs_<baseline>_text/_diff/_ci_low/_ci_high (`cells.versus`; "" and nan where not compared)."""
    paper = load_paper("leap_table_1")
    frame = records.leap_runs(runs)
    finals = records.final_values(runs, frame)
    out, counted = [], {}
    for method, cells in paper["test_acc"].items():
        for row, (p_mean, p_std) in cells.items():
            mine = frame[(frame["method"] == method) & (frame["row"] == row)]
            done = finals[(finals["method"] == method) & (finals["row"] == row)].assign(status=OK_STATUS)
            require_one_configuration(runs, done["run_id"], f"LEAP Table 1, {method} on {row}")
            ours, best = aggregate_runs(done, "test_acc"), aggregate_runs(done, "best_test_acc")
            counted[(method, row)] = ours.values
            out.append(
                {
                    "row": row,
                    "method": method,
                    "dataset": paper["datasets"][row],
                    "data_label": ", ".join(sorted({str(v) for v in mine["data_label"].dropna()})),
                    "paper_mean": p_mean,
                    "paper_std": p_std,
                    "paper_runs": paper["runs"][row],
                    "ours_mean": ours.mean,
                    "ours_std": ours.std,
                    "ours_runs": len(done),
                    "diff": ours.mean - p_mean,
                    "updates": ", ".join(str(u) for u in sorted(set(done["updates"]))),
                    "status": _status(mine, done),
                    "ours_best_mean": best.mean,
                    "ours_best_std": best.std,
                }
            )
    for record in out:
        for baseline, methods in COMPARISONS.items():
            compared = counted[(record["method"], record["row"])] if record["method"] in methods else None
            text, columns = versus(baseline, compared, counted.get((baseline, record["row"]), ()))
            record.update({f"vs_{baseline.lower()}_text": text, **columns})
    return pd.DataFrame(out)


def _cell(mean: float, std: float, n: int | None = None) -> str:
    """'97.23 ± 0.06', with n: '97.23 ± 0.06 (n=3)'."""
    return spread_text(f"{mean:.2f}", None if math.isnan(std) else f"{std:.2f}", [f"n={n}"] if n is not None else [])


def table_1(values: pd.DataFrame) -> pd.DataFrame:
    """Methods as rows; per data set paper | ours (final) | ours (best epoch) | diff | vs Random | vs SPLD."""
    cells = []
    for cell in values.to_dict("records"):
        label, recorded = cell["dataset"], values.loc[values["row"] == cell["row"], "data_label"].iloc[0]
        if recorded and recorded.replace("-", "").lower() != label.rstrip("*").replace("-", "").lower():
            label = f"{label} [{recorded}]"
        finished, n = cell["status"] == OK_STATUS, int(cell["ours_runs"])
        texts = {
            "paper": _cell(cell["paper_mean"], cell["paper_std"]),
            "ours (final)": _cell(cell["ours_mean"], cell["ours_std"], n) if finished else cell["status"],
            "ours (best epoch)": _cell(cell["ours_best_mean"], cell["ours_best_std"], n) if finished else "",
            "diff": f"{cell['diff']:+.2f}" if finished else "",
        }
        texts.update({f"vs {baseline}": cell[f"vs_{baseline.lower()}_text"] for baseline in COMPARISONS})
        cells.append((cell["method"], label, texts))
    updates = {r: u for r, u in zip(values["row"], values["updates"]) if u}
    updates = "; ".join(f"{r}: {u}" for r, u in updates.items())
    declared = {**TEXT["table_1"], "title": load_paper("leap_table_1")["title"]}
    return declare(
        layout(cells, "Sampling method"), declared, interval=INTERVAL_NOTE, updates=updates or "none finished"
    )


HELP = "LEAP Table 1 (paper, ours, diff), convergence curves, 2-D embeddings, report.html"
RUNS_HELP = "multirun folder of LEAP/SPLD/Random runs"
OUT_HELP = "folder for table_1.md/.csv/.tex, curves.png, embedding.png, report.html"


def add_arguments(leap: argparse.ArgumentParser) -> None:
    leap.add_argument(
        "--rows", type=str_list, help="Table 1 columns (data sets), e.g. mnist,fashion_mnist (default: all five)"
    )


def build(args: argparse.Namespace) -> list[Path]:
    """Table 1, its curves and embedding plots, and the HTML report into args.out."""
    runs = collect_runs(args.runs)
    values = table_1_values(runs)
    known = list(dict.fromkeys(values["row"]))
    unknown = [row for row in args.rows or () if row not in known]
    if unknown:
        raise ValueError(f"--rows {','.join(unknown)}: not a LEAP Table 1 data set; accepted: {','.join(known)}")
    if args.rows:
        values = values[values["row"].isin(args.rows)].reset_index(drop=True)
    curves, points = records.curves(runs), records.embedding_points(runs)  # no points: no LEAP run wrote one
    figures = [("curves.png", TEXT["curves"], records.curves_figure(curves), TEXT["curves"])]
    if points:
        figures.append(("embedding.png", TEXT["embedding"], records.embedding_figure(points), TEXT["embedding"]))
    title = TEXT["report_title"].format(rows=", ".join(args.rows or ["all data sets"]))
    return publish(
        runs,
        args.out,
        report_title(args, title),
        tables=[(table_1(values), None)],
        note=args.note,
        frames=[
            ("curves.csv", curves),
            ("table_1_values.csv", values),
            ("table_1_runs.csv", records.final_values(runs, records.leap_runs(runs))),
        ],
        figures=figures,
    )
