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

from trainfix.results.arguments import add_runs_out, report_title, str_list
from trainfix.results.cells import INTERVAL_NOTE, aggregate_runs, layout, versus
from trainfix.results.collect import DATA_MISSING, OK_STATUS, RunCollection, collect_runs
from trainfix.results.configs import require_one_configuration
from trainfix.results.paper import declare, load_paper
from trainfix.results.report import publish
from trainfix.strategies.leap.records import (
    curves,
    curves_figure,
    embedding_figure,
    embedding_points,
    final_values,
    leap_runs,
)

TEXT = load_paper("leap_tables")  # caption lines (paper/leap_tables.yaml)
# Baseline -> the methods compared with it (the paper: LEAP improves "over the baselines SPLD and Random").
COMPARISONS = {"Random": ("LEAP", "SPLD"), "SPLD": ("LEAP",)}


def paper_table() -> dict[str, Any]:
    """The transcribed Table 1 (see the YAML file's header)."""
    return load_paper("leap_table_1")


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
            compared = counted[(record["method"], record["row"])] if record["method"] in methods else None
            text, columns = versus(baseline, compared, counted.get((baseline, record["row"]), ()))
            record[f"vs_{baseline.lower()}_text"] = text
            record.update(columns)
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
    updates = "; ".join(f"{r}: {u}" for r, u in updates.items()) or "none finished"
    return declare(
        table,
        dict(stem="table_1", title=paper_table()["title"], short=TEXT["table_1_short"], caption=TEXT["table_1"]),
        interval=INTERVAL_NOTE,
        updates=updates,
    )


# --------------------------------------------------------------------------- command line
HELP = "LEAP Table 1 (paper, ours, diff), convergence curves, 2-D embeddings, report.html"


def add_arguments(leap: argparse.ArgumentParser) -> None:
    add_runs_out(
        leap,
        "multirun folder of LEAP/SPLD/Random runs",
        "folder for table_1.md/.csv/.tex, curves.png, embedding.png, report.html",
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
    curve_caption, embed_caption = TEXT["curves"], TEXT["embedding"]
    points = embedding_points(runs)  # none until a LEAP run wrote leap_embedding.csv: then no embedding.png
    figures = [("curves.png", curve_caption, curves_figure(curve_data), curve_caption)] + (
        [("embedding.png", embed_caption, embedding_figure(points), embed_caption)] if points else []
    )
    return publish(
        runs,
        args.out,
        report_title(args, TEXT["report_title"].format(rows=", ".join(args.rows or ["all data sets"]))),
        tables=[(table_1(values), None)],
        note=args.note,
        frames=[
            ("curves.csv", curve_data),
            ("table_1_values.csv", values),
            ("table_1_runs.csv", final_values(runs, leap_runs(runs))),
        ],
        figures=figures,
    )
