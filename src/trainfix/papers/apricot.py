"""Apricot's Tables II-V and Figures 2-3 (seeds/apricot.txt §IV-B) from one multirun folder.

The folder holds the input runs (`config.apricot_role: input`), the reduced runs (`reduced`) and the
`adapt/<...>/` folders written by `python -m trainfix.apricot`. Paper numbers:
`published/apricot_table_{ii,iii,iv,v}.yaml`; titles and captions: `published/apricot_tables.yaml`. Every table says
which data it ran on (the lossy JPEG CIFAR-10 copy, a quick subset) and how the rDLM windows were taken. The cells
are measured by `trainfix.procedures.apricot.tables` (which says how) and the figures drawn by
`trainfix.procedures.apricot.figures`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from trainfix.core.records import FINISHED
from trainfix.papers.published import declarations, declare, load_paper
from trainfix.procedures.apricot import tables as measured
from trainfix.procedures.apricot.records import ApricotRuns, pct, read_passes, trained_runs
from trainfix.results.arguments import report_title
from trainfix.results.cells import layout
from trainfix.results.collect import collect_runs
from trainfix.results.configs import require_each_once, require_same_configs
from trainfix.results.report import publish
from trainfix.runs.identity import flatten

TEXT = load_paper("apricot_tables")
# Keys that differ between the members of one cell by design: the rDLM's window, the pass's model seed
# (which repetition it adapts) and batch order seed, and the runs it read.
WINDOW_KEYS = ("data.train_window.start",)
PASS_KEYS = ("model_seed", "seed", "input_run", "reduced_runs")


def collect(root: Path) -> ApricotRuns:
    """The run folders (input and reduced: `collect_runs`) and the adapt/ passes below `root`. Each number of
    Tables II-V is a mean over runs of one configuration: ValueError when the finished input runs of a row, its
    finished rDLMs (window aside) or the passes of one (row, sign convention, strategy) differ besides the seed."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"--runs {root}: no such folder; expected the multirun folder of experiment=apricot/... runs"
        )
    collection = collect_runs(root)
    runs = trained_runs(collection)
    adapt, facts = read_passes(root)
    if runs.empty and adapt.empty:
        raise FileNotFoundError(
            f"--runs {root}: no Apricot runs (run.json with config.apricot_role) and no adapt/*/result.json"
        )
    finished = runs[runs["status"] == FINISHED] if len(runs) else runs
    for (row, role), group in finished.groupby(["row", "role"], sort=True) if len(finished) else []:
        cell = f"Apricot tables, {row} {role} runs"
        require_same_configs(dict(zip(group["run"], group["config"])), cell, root, WINDOW_KEYS)
        starts = group["config"].map(lambda c: flatten(c).get(WINDOW_KEYS[0], -1))  # the rDLM's window
        keys = ["seed", "window_start"] if role == "reduced" else ["seed"]
        require_each_once(group.assign(window_start=starts), keys, "run", cell, root)
    passes = adapt.groupby(["row", "direction", "strategy"], sort=True) if len(adapt) and "identity" in adapt else []
    for (row, direction, strategy), group in passes:
        cell = f"Apricot Table V, {row} {direction} S{strategy} passes"
        require_same_configs(dict(zip(group["folder"], group["identity"])), cell, root / "adapt", PASS_KEYS)
        require_each_once(group, ["model_seed"], "folder", cell, root / "adapt")
    return ApricotRuns(root, runs, adapt, facts, collection)


def _data_caption(data: ApricotRuns) -> list[str]:
    """The caption lines every table and figure starts with: the data, the rDLM windows, a quick profile."""
    text, runs, lines = TEXT["data"], data.runs, []
    labels = sorted(set(runs["dataset"].dropna()))
    if labels:
        unofficial = "" if runs["official"].dropna().all() else text["unofficial"]
        lines.append(text["labels"].format(labels=", ".join(labels), unofficial=unofficial))
    windows = [w for w in runs["window"] if isinstance(w, dict)]
    if windows:
        sizes = ", ".join(map(str, sorted({w["size"] for w in windows})))
        orders = "; ".join(text["orders"][o] for o in sorted({w["order"] for w in windows}))
        lines.append(text["windows"].format(sizes=sizes, orders=orders))
    short = runs[(runs["status"] == FINISHED) & (runs["max_epochs"].notna())]
    if len(short) and len(runs["num_train"].dropna()) and runs["num_train"].max() < 10_000:
        lines.append(text["quick"])
    return lines


def _table_v_settings(data: ApricotRuns) -> list[str]:
    """Table V's caption lines after the data: the passes' settings and the control's accuracies."""
    adapt, controls = measured.passes(data)
    lines = []
    if len(adapt):
        facts = {key: sorted(set(adapt[key])) for key in ("r", "retrain_epochs", "eval_on", "batches_in_pass")}
        facts["model_seed"] = ", ".join(map(str, sorted({int(s) for s in adapt["model_seed"]})))
        lines += [line.format(**facts) for line in TEXT["table_v"]["settings"]]
    if len(controls):
        accuracies = ", ".join(f"{row} {pct(g['test_acc'].mean())} %" for row, g in controls.groupby("row"))
        lines.append(TEXT["table_v"]["control"].format(accuracies=accuracies))
    return lines


def tables(data: ApricotRuns) -> list[pd.DataFrame]:
    """Tables II-V, declared (stem, title, caption); II-IV in the paper | ours layout of their measured cells."""
    declared = declarations("apricot_tables")
    data_lines = _data_caption(data)
    never = ", ".join(map(str, measured.windows_never_used(data))) or "-"
    out = []
    for key, index_name in (("ii", "Model"), ("iii", "Model"), ("iv", "rDLM"), ("v", None)):
        cells = getattr(measured, f"table_{key}")(data, load_paper(f"apricot_table_{key}")["rows"])
        if index_name is not None:  # {row label: {(column, paper|ours): text}}
            texts = (
                (label, column, {source: text})
                for label, row in cells.items()
                for (column, source), text in row.items()
            )
            cells = layout(texts, index_name)
        table = declare(cells, declared[f"table_{key}"], never=never)
        table.attrs["caption"] = data_lines + table.attrs["caption"] + (_table_v_settings(data) if key == "v" else [])
        out.append(table)
    return out


def build_tables(runs: Path, out: Path, title: str = TEXT["report_title"], note: str | None = None) -> list[Path]:
    """Tables II-V (md/csv/tex), table_v_passes.csv (one row per pass), figure_2.png, figure_3.png and report.html
    from `runs` into `out`."""
    from trainfix.procedures.apricot.figures import figure_2, figure_3  # matplotlib only when plotting

    data = collect(runs)
    data_lines, figures = " ".join(_data_caption(data)), []
    if data.reduced_facts:
        caption = TEXT["figures"]["figure_2"] + data_lines
        figures.append(("figure_2.png", caption, figure_2(data), caption))
    if len(data.adapt):
        caption = TEXT["figures"]["figure_3"] + " " + data_lines
        figures.append(("figure_3.png", caption, figure_3(data), caption))
    frames = [("table_v_passes.csv", measured.pass_values(data))] if len(data.adapt) else []
    tables_ = [(t, None) for t in tables(data)]
    return publish(data.collection, out, title, tables=tables_, frames=frames, figures=figures, note=note)


HELP = "Apricot Tables II-V, Figures 2-3 and report.html (paper, ours)"
RUNS_HELP = "multirun folder of experiment=apricot/... runs and their adapt/ passes"
OUT_HELP = "folder for the md/csv/tex/png/html files"


def build(args: argparse.Namespace) -> list[Path]:
    return build_tables(args.runs, args.out, report_title(args, TEXT["report_title"]), note=args.note)
