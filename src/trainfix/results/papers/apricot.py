"""Apricot's Tables II-V and Figures 2-3 (seeds/apricot.txt §IV-B) from one multirun folder.

The folder holds the input runs (`config.apricot_role: input`), the reduced runs (`reduced`) and
`adapt/<...>/` folders written by `python -m trainfix.apricot` (result.json, reduced.json, config.json).
Paper numbers come from `paper/apricot_table_{ii,iii,iv,v}.yaml`, never from code; titles and captions from
`paper/apricot_tables.yaml`. Every table says which data it ran on (the lossy JPEG CIFAR-10 copy, a quick
subset) and how the rDLM windows were taken. The cells are measured by `trainfix.procedures.apricot.tables`
(which says how each is computed) and the figures drawn by `trainfix.procedures.apricot.figures`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from trainfix.procedures.apricot import tables as measured
from trainfix.procedures.apricot.records import ApricotRuns, pct
from trainfix.results.arguments import add_runs_out, report_title
from trainfix.results.cells import layout
from trainfix.results.paper import declarations, declare, load_paper
from trainfix.results.papers.apricot_runs import collect
from trainfix.results.report import publish

TEXT = load_paper("apricot_tables")


def _data_caption(data: ApricotRuns) -> list[str]:
    """The caption lines every table and figure starts with: the data, the rDLM windows, a quick profile."""
    text, lines = TEXT["data"], []
    labels = sorted(set(data.runs["dataset"].dropna()))
    if labels:
        unofficial = "" if data.runs["official"].dropna().all() else text["unofficial"]
        lines.append(text["labels"].format(labels=", ".join(labels), unofficial=unofficial))
    windows = [w for w in data.runs["window"] if isinstance(w, dict)]
    if windows:
        sizes = ", ".join(map(str, sorted({w["size"] for w in windows})))
        orders = "; ".join(text["orders"][o] for o in sorted({w["order"] for w in windows}))
        lines.append(text["windows"].format(sizes=sizes, orders=orders))
    short = data.runs[(data.runs["status"] == "finished") & (data.runs["max_epochs"].notna())]
    if len(short) and len(data.runs["num_train"].dropna()) and data.runs["num_train"].max() < 10_000:
        lines.append(text["quick"])
    return lines


def _cells_table(cells: measured.Cells, index_name: str) -> pd.DataFrame:
    """{row label: {(column, paper|ours): text}} in the paper | ours layout."""
    return layout(
        ((label, column, {source: text}) for label, row in cells.items() for (column, source), text in row.items()),
        index_name,
    )


def _table_v_settings(data: ApricotRuns) -> list[str]:
    """Table V's caption lines after the data: the passes' settings and the control's accuracies."""
    adapt, controls = measured.passes(data)
    lines = []
    if len(adapt):
        facts = {key: sorted(set(adapt[key])) for key in ("r", "retrain_epochs", "eval_on", "batches_in_pass")}
        lines += [line.format(**facts) for line in TEXT["table_v"]["settings"]]
    if len(controls):
        accuracies = ", ".join(f"{row} {pct(g['test_acc'].mean())} %" for row, g in controls.groupby("row"))
        lines.append(TEXT["table_v"]["control"].format(accuracies=accuracies))
    return lines


def tables(data: ApricotRuns) -> list[pd.DataFrame]:
    """Tables II-V, declared (stem, title, caption)."""
    declared = declarations("apricot_tables")
    data_lines = _data_caption(data)
    out = []
    for key, index_name in (("ii", "Model"), ("iii", "Model"), ("iv", "rDLM"), ("v", None)):
        cells = getattr(measured, f"table_{key}")(data, load_paper(f"apricot_table_{key}")["rows"])
        table = cells if index_name is None else _cells_table(cells, index_name)
        never = ", ".join(map(str, measured.windows_never_used(data))) or "-"
        declare(table, declared[f"table_{key}"], never=never)
        table.attrs["caption"] = data_lines + table.attrs["caption"] + (_table_v_settings(data) if key == "v" else [])
        out.append(table)
    return out


def build_tables(runs: Path, out: Path, title: str = TEXT["report_title"], note: str | None = None) -> list[Path]:
    """Tables II-V (md/csv/tex), figure_2.png, figure_3.png and report.html from `runs` into `out`."""
    from trainfix.procedures.apricot.figures import figure_2, figure_3  # matplotlib only when plotting

    data = collect(runs)
    figures = []
    if data.reduced_facts:
        caption = TEXT["figures"]["figure_2"] + " ".join(_data_caption(data))
        figures.append(("figure_2.png", caption, figure_2(data), caption))
    if len(data.adapt):
        caption = TEXT["figures"]["figure_3"] + " " + " ".join(_data_caption(data))
        figures.append(("figure_3.png", caption, figure_3(data), caption))
    return publish(data.collection, out, title, tables=[(t, None) for t in tables(data)], figures=figures, note=note)


HELP = "Apricot Tables II-V, Figures 2-3 and report.html (paper, ours)"


def add_arguments(ap: argparse.ArgumentParser) -> None:
    add_runs_out(
        ap,
        "multirun folder of experiment=apricot/... runs and their adapt/ passes",
        "folder for the md/csv/tex/png/html files",
    )


def build(args: argparse.Namespace) -> list[Path]:
    return build_tables(args.runs, args.out, report_title(args, TEXT["report_title"]), note=args.note)
