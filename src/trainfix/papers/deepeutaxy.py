"""DeepEutaxy (Zhang & Chan) Tables IV-VII and Figure 3 from run folders: the paper's number, ours, the difference.

    python -m trainfix.results deepeutaxy --runs multirun/deepeutaxy_table_iv --out results/deepeutaxy_table_iv
    python -m trainfix.results deepeutaxy --runs multirun/deepeutaxy_table_vii \\
        --base-runs multirun/deepeutaxy_table_iv --out results/deepeutaxy_table_vii --table vii

Writes into --out: table_<n>.md / .csv / .tex (paper, ours, diff per cell), table_<n>_values.csv (one row
per cell, numbers), seeds_iv_vi.md / .csv / .tex (Tables IV-VI's numbers per seed), figure_3.png and
report.html. Paper numbers: `published/deepeutaxy_table_{iv,v,vi,vii}.yaml`; caption prose:
`published/deepeutaxy_tables.yaml`. docs/tables.md defines every cell. Each table is declared row by row as
(column, kind, the paper's key, cell, the baseline's cell: `cells.Entries`), laid out as paper | ours | diff | vs BL.
`deepeutaxy_runs`: labels, which runs, protocol, captions; `deepeutaxy_figure`: Figure 3.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from trainfix.papers.deepeutaxy_runs import (
    STRATEGIES,
    TABLE_VII_ROLES,
    TEXT,
    TRAIN_MEASURES,
    TableRuns,
    at_chance,
    chance_level_convergence,
    chance_line,
    check_protocol,
    collect_de_runs,
    convergence_cell,
    label_runs,
    readings_line,
    row_label,
    select_runs,
    table_rows,
    tables_iv_vi_runs,
)
from trainfix.papers.published import declare, load_paper
from trainfix.results.arguments import int_list, report_title, str_list
from trainfix.results.cells import INTERVAL_NOTE, Cell, Entries, aggregate, count, format_value, widen
from trainfix.results.collect import RunCollection, RunsInputError
from trainfix.results.report import publish
from trainfix.training.callbacks import convergence_measures as measures

TABLES = ("iv", "v", "vi", "vii")
BASELINE = "BL"  # Tables IV-VI compare SPL and DE with it
TABLE_CHOICES = (*TABLES, "fig3", "all")
ACCURACIES = (("train", "train_acc_used"), ("test", "test_acc"))
OPTIONS = ("convergence", "epsilon", "seeds", "rows", "variant", "chance_level")  # of every table: tables_iv_vi_runs
SEED_COLUMNS = tuple(TEXT["seeds"]["columns"])  # the per-seed table's columns after Model, Strategy, Seed


def load_paper_table(table: str) -> dict[str, Any]:
    """The published numbers of Table `table` ("iv", "v", "vi" or "vii"): `rows` maps a row key (cnn1, ...,
    or base/spl/de/spl_de for VII) to its cells; accuracies in percent, epochs as counts, texts as printed."""
    if table.lower() not in TABLES:
        raise ValueError(f"table={table!r} is not a DeepEutaxy table with published numbers; accepted: iv, v, vi, vii")
    return load_paper(f"deepeutaxy_table_{table.lower()}")


def seed_max(column: str, scale: float = 1.0) -> measures.Measure:
    """A seed's maximum of `column` times `scale` ("not recorded" without one)."""
    return lambda metrics, run: measures.as_outcome(metrics[column].max() if column in metrics.columns else None, scale)


def at_level(column: str, level: float) -> measures.Measure:
    """A seed's first 1-based epoch with `column` at or above `level` ("not reached")."""
    return lambda metrics, run: measures.first_at_level(metrics, column, level)


def _attrs(table: str, paper: dict[str, Any], caption: list[str], short: str) -> dict[str, Any]:
    title = f"Table {table.upper()} (DeepEutaxy): {paper.get('title', '')}"
    return {"stem": f"table_{table}", "title": title, "caption": caption, "short": short}


# --------------------------------------------------------------------------- Table IV
def table_iv_values(runs: RunCollection, *, paper: dict[str, Any] | None = None, **options: Any) -> pd.DataFrame:
    """Table IV as a long frame (`cells.entry`): per model and strategy the train/test accuracy at the Eq. 12 epoch
    (the last one when never met), compared with BL's; epochs to converge; SPL's selected share there (not in the
    paper). Options: `tables_iv_vi_runs`. `attrs`: title, caption (lines), stem, short."""
    paper = paper or load_paper_table("iv")
    used = tables_iv_vi_runs(runs, **options)
    pool, seeds, epsilon, rows = used.pool, used.seeds, used.epsilon, used.rows
    norm_column = measures.validate_reading(used.convergence)

    def at_convergence(column: str) -> measures.Measure:
        def measure(metrics: pd.DataFrame, run: pd.Series) -> measures.Outcome:
            position = measures.first_converged(metrics, norm_column, measures.epsilon_of(run, epsilon))
            position = len(metrics) - 1 if not isinstance(position, int) else position
            return measures.as_outcome(metrics[column].iloc[position] if column in metrics.columns else None, 100.0)

        return measure

    table = Entries(BASELINE)
    for row in rows:
        add = table.at(row, row_label(row), paper["rows"].get(row) or {})
        accuracy = {
            (s, name): aggregate("acc", pool.outcomes(row, s, seeds, at_convergence(column)))
            for s in STRATEGIES
            for name, column in ACCURACIES
        }
        for (strategy, name), cell in accuracy.items():
            base = None if strategy == BASELINE else accuracy[(BASELINE, name)]
            add(f"{strategy} {name} acc", "acc", f"{name}_acc", strategy, cell, base)
        for strategy in STRATEGIES:
            cell = convergence_cell(pool, row, strategy, seeds, measures.converged_epoch(norm_column, epsilon))
            add(f"{strategy} epochs to converge", "epochs", "epochs_to_converge", strategy, cell)
        # SPL's share of the training set at that epoch (few selected samples: small gradients that meet Eq. 12).
        cell = aggregate("acc", pool.outcomes(row, "SPL", seeds, at_convergence("spl_selected_frac")))
        add("SPL selected at convergence", "acc", None, None, cell)
    text = TEXT["table_iv"]
    caption = used.caption("iv") + [
        text["spl_selected"],
        text["vs_baseline"].format(baseline=BASELINE, interval=INTERVAL_NOTE),
        readings_line(pool, rows, STRATEGIES, seeds, epsilon, "epoch_number"),
        *chance_line(pool, rows, STRATEGIES, seeds),
    ]
    stuck = chance_level_convergence(pool, rows, seeds, norm_column, epsilon)
    if stuck:
        caption.append(text["stuck"].format(seeds="; ".join(stuck)))
    return table.frame(_attrs("iv", paper, caption, text["short"]))


# --------------------------------------------------------------------------- Tables V and VI
def max_accuracy_values(
    runs: RunCollection, accuracy: str, *, paper: dict[str, Any] | None = None, **options: Any
) -> pd.DataFrame:
    """Table V (`accuracy="train"`) or VI (`"test"`) as a long frame: per model each strategy's maximum (compared
    with BL's), the epochs to it (A for BL), SPL's and DE's first epoch at BL's level (B, C) and the speedups A/B,
    A/C. Options: `tables_iv_vi_runs` (convergence/epsilon only change what the caption states)."""
    if accuracy not in ("train", "test"):
        raise ValueError(f"accuracy={accuracy!r} is not accepted; use 'train' (Table V) or 'test' (Table VI)")
    key, column = ("v", "train_acc_used") if accuracy == "train" else ("vi", "test_acc")
    paper = paper or load_paper_table(key)
    used = tables_iv_vi_runs(runs, **options)
    pool, seeds, rows = used.pool, used.seeds, used.rows

    def seed_argmax(metrics: pd.DataFrame, run: pd.Series) -> measures.Outcome:
        return measures.first_argmax_epoch(metrics[column], metrics["epoch_number"])

    def epochs(row: str, strategy: str, measure: measures.Measure, **soft: str) -> Cell:
        return aggregate("epochs", pool.outcomes(row, strategy, seeds, measure), **soft)

    table, reached_lines = Entries(BASELINE), []
    for row in rows:
        label = row_label(row)
        add = table.at(row, label, paper["rows"].get(row) or {})
        maxima = {s: pool.outcomes(row, s, seeds, seed_max(column)) for s in STRATEGIES}
        tops = {s: aggregate("acc", [v * 100.0 if not isinstance(v, str) else v for v in maxima[s]]) for s in maxima}
        for strategy, cell in tops.items():
            base = None if strategy == BASELINE else tops[BASELINE]
            add(f"{strategy} max {accuracy} acc", "acc", "max_acc", strategy, cell, base)
        a_cell = epochs(row, "BL", seed_argmax)
        add("BL epochs to max (A)", "epochs", "epochs_to_max", "BL", a_cell)
        level = measures.bl_level(maxima["BL"])
        for strategy, letter in (("SPL", "B"), ("DE", "C")):
            add(f"{strategy} epochs to max", "epochs", "epochs_to_max", strategy, epochs(row, strategy, seed_argmax))
            if level is None:
                same = Cell("epochs", None, text_if_none="no BL result")
            else:
                same = epochs(row, strategy, at_level(column, level), soft="not reached", soft_text="failed")
                others = ", ".join(f"{n} {reason}" for reason, n in same.others)
                reached_lines.append(
                    f"{label} {strategy} ({letter}): {same.used} of {count(len(seeds), 'seed')} reached BL's level "
                    f"{level * 100:.2f}%{' (' + others + ')' if others else ''}."
                )
            add(f"{strategy} same level as BL ({letter})", "epochs", "same_level_as_bl", strategy, same)
            if a_cell.value is not None and same.value is not None:
                speedup = Cell("ratio", a_cell.value / same.value, same.used, same.expected)
            else:
                speedup = Cell("ratio", None, text_if_none="-" if a_cell.value is not None else "no BL result")
            add(f"Speedup (A/{letter})", "ratio", "speedup", strategy, speedup)
    text = TEXT["table_v_vi"]
    caption = used.caption(key, uses_convergence=False) + [
        text["averaging"].format(accuracy=accuracy),
        text["vs_baseline"].format(baseline=BASELINE, accuracy=accuracy, interval=INTERVAL_NOTE),
        *chance_line(pool, rows, STRATEGIES, seeds),
        *reached_lines,
    ]
    return table.frame(_attrs(key, paper, caption, text["short"].format(accuracy=accuracy)))


# --------------------------------------------------------------------------- Table VII
def table_vii_values(
    runs: RunCollection,
    base_runs: RunCollection | None = None,
    *,
    rows: list[str] | None = None,
    variant: str | None = None,
    paper: dict[str, Any] | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Table VII as a long frame: rows Base, SPL, DE, SPL+DE; per model max train/test acc and additional epochs
    to convergence. `runs`: runs with config.table_vii_role in base/spl/de/spl_de; `base_runs`: where the Base runs
    are when not in `runs` (the 200-epoch SPL runs without a role, e.g. the Table IV multirun). `rows`: models;
    options: convergence, epsilon, seeds, chance_level (`TableRuns.of`)."""
    paper = paper or load_paper_table("vii")
    runs, base_runs = label_runs(runs), base_runs and label_runs(base_runs)
    parts = [(runs, select_runs(runs.runs, roles=TABLE_VII_ROLES, variant=variant))]
    if parts[0][1].empty:
        raise ValueError(
            f"{runs.root} holds no Table VII runs: expected runs whose config has table_vii_role in "
            f"{sorted(TABLE_VII_ROLES)}"
        )
    models = table_rows(rows, parts[0][1])
    if base_runs is not None:
        base = select_runs(base_runs.runs, roles=[None, "base"], strategies=["SPL"], variant=variant)
        parts.append((base_runs, base[base["row"].isin(models)].assign(table_vii_role="base")))
    used = TableRuns.of(parts, "table_vii_role", models, variant=variant, **options)
    pool, seed_list = used.pool, used.seeds
    additional_epochs = measures.converged_epoch(measures.validate_reading(used.convergence), used.epsilon, None)
    authors_code = "authors_code" in set(pool.runs.loc[pool.runs["table_vii_role"] == "de", "variant"].dropna())
    table = Entries()
    for role, method in TABLE_VII_ROLES.items():
        method += " (no counterpart in the code)" if role == "de" and authors_code else ""
        for model in models:
            add = table.at(role, method, (paper["rows"].get(role) or {}).get(model) or {})
            for name, column in ACCURACIES:
                cell = aggregate("acc", pool.outcomes(model, role, seed_list, seed_max(column, 100.0)))
                add(f"{row_label(model)} max {name} acc", "acc", f"max_{name}_acc", None, cell)
            if role == "base":
                cell = Cell("text", None, text_if_none="-")
            else:
                cell = convergence_cell(pool, model, role, seed_list, additional_epochs, "failed")
            add(f"{row_label(model)} additional epochs to converge", "epochs", "additional_epochs", None, cell)
    caption = used.caption("vii") + [TEXT["table_vii"]["authors_code"]] * authors_code
    caption += chance_line(pool, models, TABLE_VII_ROLES, seed_list)
    continued = [r for r in TABLE_VII_ROLES if r != "base"]
    caption.append(readings_line(pool, models, continued, seed_list, used.epsilon, None))
    return table.frame(_attrs("vii", paper, caption, TEXT["table_vii"]["short"]))


def table_values(
    table: str, runs: RunCollection, base_runs: RunCollection | None = None, **options: Any
) -> pd.DataFrame:
    """Table `table`'s long values frame: `table_iv_values`, `max_accuracy_values` (V: train, VI: test) or
    `table_vii_values` (`base_runs`: its Base runs when not in `runs`)."""
    if table == "iv":
        return table_iv_values(runs, **options)
    if table in ("v", "vi"):
        return max_accuracy_values(runs, "train" if table == "v" else "test", **options)
    if table == "vii":
        return table_vii_values(runs, base_runs, **options)
    raise ValueError(f"table={table!r} is not a DeepEutaxy table with published numbers; accepted: iv, v, vi, vii")


def build_table(
    table: str, runs: RunCollection, base_runs: RunCollection | None = None, **options: Any
) -> pd.DataFrame:
    """Table `table` in the paper's layout: one row per model (Table VII: per method, Base/SPL/DE/SPL+DE), columns
    (column, paper/ours/diff, and vs BL where compared) of text."""
    return widen(table_values(table, runs, base_runs, **options), index_name="Method" if table == "vii" else "Model")


# --------------------------------------------------------------------------- per seed
def seed_values(runs: RunCollection, **options: Any) -> pd.DataFrame:
    """The per-seed numbers behind Tables IV-VI (seeds_iv_vi): one row per (model, strategy, seed), text cells.

    Index: the run folder; columns Model, Strategy, Seed and SEED_COLUMNS (`convergence_measures.seed_numbers`;
    BL's level: the mean over counted BL seeds of their maxima). A seed whose run has not finished shows its numbers
    so far and its status; one with no run reads "missing"; `note` names a dead network (chance level).
    """
    used = tables_iv_vi_runs(runs, **options)
    pool, seed_list = used.pool, used.seeds
    norm_column = measures.validate_reading(used.convergence)
    records, level_texts = [], []
    for row in used.rows:
        levels = {}
        for accuracy, column in ACCURACIES:
            maxima = pool.outcomes(row, "BL", seed_list, seed_max(column))
            levels[accuracy] = measures.bl_level(maxima)
            counted = sum(not isinstance(v, str) for v in maxima)
            level = format_value("acc", 100 * levels[accuracy]) if counted else "none (no counted BL run)"
            level_texts.append(f"{row_label(row)} {accuracy} {level} ({count(counted, 'BL seed')})")
        for strategy in STRATEGIES:
            for seed, run in pool.seed_runs(row, strategy, seed_list):
                record = dict.fromkeys(SEED_COLUMNS, "-")
                record.update(
                    run=f"(no run: {row} {strategy} seed {seed})" if run is None else str(run["run_id"]),
                    Model=row_label(row),
                    Strategy=strategy,
                    Seed=seed,
                    status="missing" if run is None else str(run["status"]),
                )
                metrics = pool.epochs_of(run)
                if metrics is not None and not metrics.empty:
                    record.update(measures.seed_numbers(metrics, run, used.epsilon, norm_column, levels))
                    if at_chance(pool, run):
                        counted_or_not = "excluded from" if pool.exclude is not None else "counted in"
                        record["note"] = f"at chance level: {counted_or_not} the tables"
                records.append(record)
    frame = pd.DataFrame(records, columns=["run", "Model", "Strategy", "Seed", *SEED_COLUMNS]).set_index("run")
    declare(frame, TEXT["seeds"], convergence=used.convergence, levels="; ".join(level_texts) or "none")
    frame.attrs["caption"] = used.caption(None) + frame.attrs["caption"]
    return frame


# --------------------------------------------------------------------------- command line
HELP = "DeepEutaxy Tables IV-VII and Figure 3 (paper, ours, diff)"
RUNS_HELP = "multirun folder: one sub-folder per run (run.json, metrics.csv)"
OUT_HELP = "folder for the md/csv/tex/png files"


def add_arguments(de: argparse.ArgumentParser) -> None:
    """DeepEutaxy's own flags; their help: `options` in paper/deepeutaxy_tables.yaml."""

    def add(flag: str, **keywords: Any) -> None:
        de.add_argument(flag, help=TEXT["options"][flag], **keywords)

    add("--base-runs", type=Path)
    add("--table", choices=TABLE_CHOICES, default="all")
    add("--convergence", choices=sorted(measures.READING_CHOICES), default="auto")
    add("--epsilon", type=float)
    add("--seeds", type=int_list)
    add("--rows", type=str_list)
    add("--variant")
    add("--train-measure", choices=TRAIN_MEASURES, default="same")
    add("--band", choices=("minmax", "std"), default="minmax")
    add("--chance-level", choices=measures.CHANCE_LEVEL_CHOICES, default="exclude")
    add("--allow-off-protocol", action="store_true")


def base_folder_from_init(runs: pd.DataFrame) -> Path | None:
    """The multirun folder holding the Base runs, read from the Table VII runs' `config.init_from`
    (<multirun>/<base run>/checkpoints/last.ckpt) when they all point into one existing folder."""
    starts = {Path(p) for p in runs.loc[runs["table_vii_role"].notna(), "init_from"].dropna()}
    folders = {p.parent.parent.parent for p in starts if p.parent.name == "checkpoints"}
    if len(folders) != 1 or not next(iter(folders)).is_dir():
        return None
    folder = next(iter(folders))
    _note(f"Table VII Base runs read from {folder} (the runs' init_from); --base-runs overrides")
    return folder


def _note(text: str) -> None:
    print(f"note: {text}", file=sys.stderr)


def build(args: argparse.Namespace) -> list[Path]:
    """Build what `args.table` asks for; print each table's Markdown; return the files written."""
    if args.epsilon is not None and not args.epsilon > 0:
        raise ValueError(f"--epsilon {args.epsilon}: must be > 0")
    runs = check_protocol(collect_de_runs(args.runs, args.train_measure), allow=args.allow_off_protocol)
    base_folder = args.base_runs or base_folder_from_init(runs.runs)
    base = base_folder and check_protocol(collect_de_runs(base_folder, args.train_measure), args.allow_off_protocol)
    options = {key: getattr(args, key) for key in OPTIONS}
    main_runs = select_runs(runs.runs, roles=[None], strategies=STRATEGIES, variant=args.variant)
    wanted = set(TABLE_CHOICES[:-1]) if args.table == "all" else {args.table}
    if main_runs.empty and wanted & {"iv", "v", "vi", "fig3"}:
        if args.table != "all":
            raise RunsInputError(
                f"{args.runs} holds no BL/SPL/DE runs for Tables IV-VI (runs without config.table_vii_role); "
                f"found {len(runs.runs)} run folders"
            )
        _note(f"Tables IV-VI and Figure 3 skipped: {args.runs} holds no BL/SPL/DE runs without table_vii_role")
        wanted -= {"iv", "v", "vi", "fig3"}
    if "vii" in wanted and not runs.runs["table_vii_role"].notna().any() and args.table == "all":
        _note(f"Table VII skipped: no run in {args.runs} has config.table_vii_role (build it with --table vii)")
        wanted.discard("vii")
    if not wanted:
        raise RunsInputError(f"{args.runs}: nothing to build from its {len(runs.runs)} run folders")
    tables = []
    for key in (k for k in TABLES if k in wanted):
        values = table_values(key, runs, base, **options)
        tables.append((widen(values, index_name="Method" if key == "vii" else "Model"), values))
    if wanted & {"iv", "v", "vi"}:
        tables.append((seed_values(runs, **options), None))
    figures = []
    if "fig3" in wanted:
        from trainfix.papers.deepeutaxy_figure import figure_3, figure_3_caption  # matplotlib when plotting

        plot = dict(options, band=args.band)
        del plot["epsilon"]
        caption = figure_3_caption(runs, **plot)
        figures.append(("figure_3.png", " ".join(caption), figure_3(runs, **plot), "\n".join(caption)))
    shown = [f"Table {key.upper()}" for key in TABLES if key in wanted] + ["Figure 3"] * ("fig3" in wanted)
    title = report_title(args, TEXT["report_title"].format(shown=", ".join(shown)))
    return publish(runs, args.out, title, tables=tables, figures=figures, note=args.note)
