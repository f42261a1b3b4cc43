"""DeepEutaxy (Zhang & Chan) Tables IV-VII and Figure 3 from run folders: the paper's number, ours, the difference.

    python -m trainfix.results deepeutaxy --runs multirun/deepeutaxy_table_iv --out results/deepeutaxy_table_iv
    python -m trainfix.results deepeutaxy --runs multirun/deepeutaxy_table_vii \\
        --base-runs multirun/deepeutaxy_table_iv --out results/deepeutaxy_table_vii --table vii

Writes into --out: table_<n>.md / .csv / .tex (paper, ours, diff per cell), table_<n>_values.csv (one row
per cell, numbers), seeds_iv_vi.md / .csv / .tex (Tables IV-VI's numbers per seed), figure_3.png and
report.html. Paper numbers: `paper/deepeutaxy_table_{iv,v,vi,vii}.yaml`. docs/tables.md defines every
cell; the seams: `deepeutaxy_runs` (labels, which runs), `deepeutaxy_protocol` (runs off their
experiment's protocol), `deepeutaxy_measures` (Eq. 12 and the per-seed numbers), `deepeutaxy_captions`,
`deepeutaxy_figure` (Figure 3).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from trainfix.results.arguments import add_runs_out, int_list, report_title, str_list
from trainfix.results.cells import INTERVAL_NOTE, Cell, aggregate, count, entry, values_frame, widen, with_difference
from trainfix.results.collect import RunCollection, RunsInputError
from trainfix.results.paper import load_paper
from trainfix.results.papers.deepeutaxy_captions import TEXT, readings_line
from trainfix.results.papers.deepeutaxy_measures import (
    chance_level_convergence,
    chance_line,
    convergence_cell,
    tables_iv_vi_runs,
)
from trainfix.results.papers.deepeutaxy_protocol import check_protocol
from trainfix.results.papers.deepeutaxy_runs import (
    STRATEGIES,
    collect_de_runs,
    row_label,
    select_runs,
)
from trainfix.results.papers.deepeutaxy_seeds import seed_values
from trainfix.results.papers.deepeutaxy_table_vii import table_vii_values
from trainfix.results.report import publish
from trainfix.training.callbacks.convergence_measures import (
    CHANCE_LEVEL_CHOICES,
    READING_CHOICES,
    Outcome,
    as_outcome,
    bl_level,
    converged_epoch,
    epsilon_of,
    first_argmax_epoch,
    first_at_level,
    first_converged,
    validate_reading,
)

TABLES = ("iv", "v", "vi", "vii")
BASELINE = "BL"  # Tables IV-VI compare SPL and DE with it
TABLE_CHOICES = (*TABLES, "fig3", "all")


def load_paper_table(table: str) -> dict[str, Any]:
    """The published numbers of Table `table` ("iv", "v", "vi" or "vii"): `rows` maps a row key (cnn1, ...,
    or base/spl/de/spl_de for VII) to its cells; accuracies in percent, epochs as counts, texts as printed."""
    if table.lower() not in TABLES:
        raise ValueError(f"table={table!r} is not a DeepEutaxy table with published numbers; accepted: iv, v, vi, vii")
    return load_paper(f"deepeutaxy_table_{table.lower()}")


def _published(cells: dict[str, Any], key: str, strategy: str) -> Any:
    """The paper's cell `key` of `strategy` in one row of a YAML table (None when not published)."""
    return (cells.get(key) or {}).get(strategy)


# --------------------------------------------------------------------------- Table IV
def table_iv_values(runs: RunCollection, *, paper: dict[str, Any] | None = None, **options: Any) -> pd.DataFrame:
    """Table IV as a long frame: one row per (table row, column) with paper/ours/diff numbers and texts.

    Columns: row, label, column, kind, paper, paper_text, ours, ours_text, diff, diff_text,
    seeds_used, seeds_expected. `attrs` holds title, caption (list of lines) and stem.
    """
    paper = paper or load_paper_table("iv")
    used = tables_iv_vi_runs(runs, **options)
    pool, seed_list, epsilon, rows = used.pool, used.seeds, used.epsilon, used.rows
    norm_column = validate_reading(used.convergence)

    def at_convergence(column: str, scale: float) -> Callable[[pd.DataFrame, pd.Series], Outcome]:
        def measure(metrics: pd.DataFrame, run: pd.Series) -> Outcome:
            position = first_converged(metrics, norm_column, epsilon_of(run, epsilon))
            position = len(metrics) - 1 if not isinstance(position, int) else position
            return as_outcome(metrics[column].iloc[position] if column in metrics.columns else None, scale)

        return measure

    epochs_to_converge = converged_epoch(norm_column, epsilon)
    entries = []
    for row in rows:
        cells = paper["rows"].get(row) or {}
        label = row_label(row)
        accuracy = {
            (strategy, name): aggregate("acc", pool.outcomes(row, strategy, seed_list, at_convergence(column, 100.0)))
            for strategy in STRATEGIES
            for name, column in (("train", "train_acc_used"), ("test", "test_acc"))
        }
        for (strategy, name), cell in accuracy.items():
            record = entry(
                row, label, f"{strategy} {name} acc", "acc", _published(cells, f"{name}_acc", strategy), cell
            )
            if strategy != BASELINE:
                record = with_difference(record, cell, accuracy[(BASELINE, name)], BASELINE)
            entries.append(record)
        for strategy in STRATEGIES:
            cell = convergence_cell(pool, row, strategy, seed_list, epochs_to_converge)
            entries.append(
                entry(
                    row,
                    label,
                    f"{strategy} epochs to converge",
                    "epochs",
                    _published(cells, "epochs_to_converge", strategy),
                    cell,
                )
            )
        # Not in the paper: how much of the training set SPL had in play at that epoch (an SPL epoch
        # with few selected samples has small step gradients and can meet Eq. 12 without training).
        cell = aggregate("acc", pool.outcomes(row, "SPL", seed_list, at_convergence("spl_selected_frac", 100.0)))
        entries.append(entry(row, label, "SPL selected at convergence", "acc", None, cell))
    caption = used.caption("iv")
    caption.append(TEXT["table_iv"]["spl_selected"])
    caption.append(TEXT["table_iv"]["vs_baseline"].format(baseline=BASELINE, interval=INTERVAL_NOTE))
    caption.append(readings_line(pool, rows, STRATEGIES, seed_list, epsilon, "epoch_number"))
    dead = chance_line(pool, rows, STRATEGIES, seed_list)
    if dead:
        caption.append(dead)
    stuck = chance_level_convergence(pool, rows, seed_list, norm_column, epsilon)
    if stuck:
        caption.append(TEXT["table_iv"]["stuck"].format(seeds="; ".join(stuck)))
    attrs = {"stem": "table_iv", "title": f"Table IV (DeepEutaxy): {paper.get('title', '')}", "caption": caption}
    attrs["short"] = TEXT["table_iv"]["short"]
    return values_frame(entries, attrs)


def build_table_iv(runs: RunCollection, **options: Any) -> pd.DataFrame:
    """Table IV in the paper's layout (rows = models; (column, paper/ours/diff) columns of text).

    Options as `table_iv_values`: convergence ("auto" | "last" | "mean" | "full"), epsilon, seeds, rows, variant, paper,
    chance_level ("exclude" | "count").
    """
    return widen(table_iv_values(runs, **options))


# --------------------------------------------------------------------------- Tables V and VI
def max_accuracy_values(
    runs: RunCollection, accuracy: str, *, paper: dict[str, Any] | None = None, **options: Any
) -> pd.DataFrame:
    """Table V (`accuracy="train"`) or VI (`"test"`) as a long frame (columns as `table_iv_values`).

    `convergence`/`epsilon` do not change these tables; they are accepted so that the caption can
    state the reading used by the companion tables.
    """
    if accuracy not in ("train", "test"):
        raise ValueError(f"accuracy={accuracy!r} is not accepted; use 'train' (Table V) or 'test' (Table VI)")
    key = "v" if accuracy == "train" else "vi"
    column = "train_acc_used" if accuracy == "train" else "test_acc"
    paper = paper or load_paper_table(key)
    used = tables_iv_vi_runs(runs, **options)
    pool, seed_list, rows = used.pool, used.seeds, used.rows
    reached_lines: list[str] = []

    def seed_max(metrics: pd.DataFrame, run: pd.Series) -> Outcome:
        return as_outcome(metrics[column].max())

    def seed_argmax(metrics: pd.DataFrame, run: pd.Series) -> Outcome:
        return first_argmax_epoch(metrics[column], metrics["epoch_number"])

    def reaching(level: float) -> Callable[[pd.DataFrame, pd.Series], Outcome]:
        return lambda metrics, run: first_at_level(metrics, column, level)

    entries = []
    for row in rows:
        cells = paper["rows"].get(row) or {}
        label = row_label(row)
        maxima = {s: pool.outcomes(row, s, seed_list, seed_max) for s in STRATEGIES}
        max_cells = {
            s: aggregate("acc", [v * 100.0 if not isinstance(v, str) else v for v in maxima[s]]) for s in STRATEGIES
        }
        for strategy, cell in max_cells.items():
            record = entry(
                row, label, f"{strategy} max {accuracy} acc", "acc", _published(cells, "max_acc", strategy), cell
            )
            if strategy != BASELINE:
                record = with_difference(record, cell, max_cells[BASELINE], BASELINE)
            entries.append(record)
        a_cell = aggregate("epochs", pool.outcomes(row, "BL", seed_list, seed_argmax))
        entries.append(
            entry(row, label, "BL epochs to max (A)", "epochs", _published(cells, "epochs_to_max", "BL"), a_cell)
        )
        level = bl_level(maxima["BL"])
        for strategy, letter in (("SPL", "B"), ("DE", "C")):
            cell = aggregate("epochs", pool.outcomes(row, strategy, seed_list, seed_argmax))
            entries.append(
                entry(
                    row,
                    label,
                    f"{strategy} epochs to max",
                    "epochs",
                    _published(cells, "epochs_to_max", strategy),
                    cell,
                )
            )
            if level is None:
                same = Cell("epochs", None, text_if_none="no BL result")
            else:
                same = aggregate(
                    "epochs",
                    pool.outcomes(row, strategy, seed_list, reaching(level)),
                    soft="not reached",
                    soft_text="failed",
                )
                others = "".join(f", {n} {reason}" for reason, n in same.others)
                reached_lines.append(
                    f"{label} {strategy} ({letter}): {same.used} of {count(len(seed_list), 'seed')} reached BL's level "
                    f"{level * 100:.2f}%{' (' + others[2:] + ')' if others else ''}."
                )
            published = _published(cells, "same_level_as_bl", strategy)
            entries.append(entry(row, label, f"{strategy} same level as BL ({letter})", "epochs", published, same))
            if a_cell.value is not None and same.value is not None:
                speedup = Cell("ratio", a_cell.value / same.value, same.used, same.expected)
            else:
                speedup = Cell("ratio", None, text_if_none="-" if a_cell.value is not None else "no BL result")
            entries.append(
                entry(row, label, f"Speedup (A/{letter})", "ratio", _published(cells, "speedup", strategy), speedup)
            )
    number = "V" if accuracy == "train" else "VI"
    caption = used.caption(key, uses_convergence=False)
    caption.append(TEXT["table_v_vi"]["averaging"].format(accuracy=accuracy))
    caption.append(
        TEXT["table_v_vi"]["vs_baseline"].format(baseline=BASELINE, accuracy=accuracy, interval=INTERVAL_NOTE)
    )
    dead = chance_line(pool, rows, STRATEGIES, seed_list)
    if dead:
        caption.append(dead)
    caption.extend(reached_lines)
    attrs = {
        "stem": f"table_{key}",
        "title": f"Table {number} (DeepEutaxy): {paper.get('title', '')}",
        "short": TEXT["table_v_vi"]["short"].format(accuracy=accuracy),
        "caption": caption,
    }
    return values_frame(entries, attrs)


def build_table_v(runs: RunCollection, **options: Any) -> pd.DataFrame:
    """Table V (maximum training accuracies, epochs to reach them and BL's level, speedups), paper layout."""
    return widen(max_accuracy_values(runs, "train", **options))


def build_table_vi(runs: RunCollection, **options: Any) -> pd.DataFrame:
    """Table VI (the same on test accuracy), paper layout."""
    return widen(max_accuracy_values(runs, "test", **options))


# --------------------------------------------------------------------------- command line
HELP = "DeepEutaxy Tables IV-VII and Figure 3 (paper, ours, diff)"


def add_arguments(de: argparse.ArgumentParser) -> None:
    add_runs_out(
        de, "multirun folder: one sub-folder per run (run.json, metrics.csv)", "folder for the md/csv/tex/png files"
    )
    de.add_argument(
        "--base-runs",
        type=Path,
        help="Table VII: folder holding the Base runs (200-epoch SPL runs), e.g. the Table IV "
        "multirun (default: the folder the runs' config.init_from points into)",
    )
    de.add_argument(
        "--table", choices=TABLE_CHOICES, default="all", help="what to build (default: all that the runs allow)"
    )
    de.add_argument(
        "--convergence",
        choices=sorted(READING_CHOICES),
        default="auto",
        help="Eq. 12 reading: auto (default) = full when every run recorded grad_norm_full, else last; "
        "last = grad_norm_last, mean = grad_norm_mean, full = grad_norm_full (whole training set)",
    )
    de.add_argument(
        "--epsilon", type=float, help="Eq. 12 threshold (default: each run's config.convergence.epsilon, else 0.01)"
    )
    de.add_argument(
        "--seeds", type=int_list, help="expected seeds, e.g. 0,1,2,3,4 (default: every seed found in the runs)"
    )
    de.add_argument("--rows", type=str_list, help="table rows, e.g. cnn1,lenet5 (default: the rows found in the runs)")
    de.add_argument("--variant", help="strategy variant to use when the runs hold several (paper | authors_code)")
    de.add_argument(
        "--train-measure",
        choices=("same", "code"),
        default="same",
        help="train accuracy: same = eval-mode pass for every strategy (default); code = as the authors' code "
        "measured it (DE, SPL+DE and Table VII's SPL row: running mean in training mode)",
    )
    de.add_argument(
        "--band", choices=("minmax", "std"), default="minmax", help="Figure 3 error band over seeds (default min..max)"
    )
    de.add_argument(
        "--chance-level",
        choices=CHANCE_LEVEL_CHOICES,
        default="exclude",
        help="a dead network (a finished run whose training accuracy never exceeded 2 / num_classes and whose "
        "gradient vanished): exclude "
        "(default; its cells read 'chance level') or count it as any finished run; captions name such seeds",
    )
    de.add_argument(
        "--allow-off-protocol",
        action="store_true",
        help="count runs whose epochs, data subsets, batch size, optimizer, ... differ from their experiment's "
        "(labelled in the captions); default: they are not counted and the captions list them with the reason",
    )


def base_folder_from_init(runs: pd.DataFrame) -> Path | None:
    """The multirun folder holding the Base runs, read from the Table VII runs' `config.init_from`
    (<multirun>/<base run>/checkpoints/last.ckpt) when they all point into one existing folder."""
    starts = {Path(p) for p in runs.loc[runs["table_vii_role"].notna(), "init_from"].dropna()}
    folders = {p.parent.parent.parent for p in starts if p.parent.name == "checkpoints"}
    if len(folders) == 1 and next(iter(folders)).is_dir():
        folder = next(iter(folders))
        print(
            f"note: Table VII Base runs read from {folder} (the runs' init_from); --base-runs overrides",
            file=sys.stderr,
        )
        return folder
    return None


def build(args: argparse.Namespace) -> list[Path]:
    """Build what `args.table` asks for; print each table's Markdown; return the files written."""
    if args.epsilon is not None and not args.epsilon > 0:
        raise ValueError(f"--epsilon {args.epsilon}: must be > 0")
    runs = check_protocol(collect_de_runs(args.runs, args.train_measure), allow=args.allow_off_protocol)
    base_folder = args.base_runs or base_folder_from_init(runs.runs)
    base = (
        check_protocol(collect_de_runs(base_folder, args.train_measure), allow=args.allow_off_protocol)
        if base_folder
        else None
    )
    options = {
        "convergence": args.convergence,
        "epsilon": args.epsilon,
        "seeds": args.seeds,
        "rows": args.rows,
        "variant": args.variant,
        "chance_level": args.chance_level,
    }
    main_runs = select_runs(runs.runs, roles=[None], strategies=STRATEGIES, variant=args.variant)
    wanted = set(TABLE_CHOICES[:-1]) if args.table == "all" else {args.table}
    if main_runs.empty and wanted & {"iv", "v", "vi", "fig3"}:
        if args.table != "all":
            raise RunsInputError(
                f"{args.runs} holds no BL/SPL/DE runs for Tables IV-VI (runs without config.table_vii_role); "
                f"found {len(runs.runs)} run folders"
            )
        print(
            f"note: Tables IV-VI and Figure 3 skipped: {args.runs} holds no BL/SPL/DE runs without table_vii_role",
            file=sys.stderr,
        )
        wanted -= {"iv", "v", "vi", "fig3"}
    if "vii" in wanted and not runs.runs["table_vii_role"].notna().any() and args.table == "all":
        print(
            f"note: Table VII skipped: no run in {args.runs} has config.table_vii_role (build it with --table vii)",
            file=sys.stderr,
        )
        wanted.discard("vii")
    if not wanted:
        raise RunsInputError(f"{args.runs}: nothing to build from its {len(runs.runs)} run folders")
    builders = {
        "iv": lambda: table_iv_values(runs, **options),
        "v": lambda: max_accuracy_values(runs, "train", **options),
        "vi": lambda: max_accuracy_values(runs, "test", **options),
        "vii": lambda: table_vii_values(runs, base, **options),
    }
    tables = [
        (widen(values, index_name="Method" if key == "vii" else "Model"), values)
        for key in TABLES
        if key in wanted
        for values in [builders[key]()]
    ]
    if wanted & {"iv", "v", "vi"}:
        tables.append((seed_values(runs, **options), None))
    figures = []
    if "fig3" in wanted:
        from trainfix.results.papers.deepeutaxy_figure import (
            figure_3,
            figure_3_caption,
        )  # matplotlib only when plotting

        figure_options = {
            "band": args.band,
            "variant": args.variant,
            "seeds": args.seeds,
            "convergence": args.convergence,
            "chance_level": args.chance_level,
            "rows": args.rows,
        }
        caption = figure_3_caption(runs, **figure_options)
        figures.append(
            (
                "figure_3.png",
                " ".join(caption),
                figure_3(runs, **figure_options),
                "\n".join(caption),
            )
        )
    shown = [f"Table {key.upper()}" for key in TABLES if key in wanted] + ["Figure 3"] * ("fig3" in wanted)
    title = report_title(args, TEXT["report_title"].format(shown=", ".join(shown)))
    return publish(runs, args.out, title, tables=tables, figures=figures, note=args.note)
