"""Results from run folders: any sweep's summary and HTML report, a paper's tables and figures.

    python -m trainfix.results summary --runs multirun/<task_name> [--metric test_acc] [--out summary.md|.csv]
    python -m trainfix.results report --runs multirun/<task_name> --out report.html
    python -m trainfix.results deepeutaxy --runs multirun/deepeutaxy_table_iv --out results/deepeutaxy_table_iv
    python -m trainfix.results deepeutaxy --runs multirun/deepeutaxy_table_vii \\
        --base-runs multirun/deepeutaxy_table_iv --out results/deepeutaxy_table_vii --table vii
    python -m trainfix.results monitor --runs multirun/monitor_ol_full --out results/monitor_ol_full [--replay --budgets 50,100]
    python -m trainfix.results apricot --runs multirun/apricot_quick --out results/apricot_quick
    python -m trainfix.results leap --runs multirun/leap_table_1_quick --out results/leap_table_1_quick
    python -m trainfix.results trimming --runs multirun/trimming_table_1_quick --out results/trimming_table_1_quick

`summary` prints one row per configuration (Markdown) and writes it with --out. `report` writes one
self-contained HTML file. `deepeutaxy` writes into --out: table_<n>.md / .csv / .tex (paper layout:
paper, ours, diff per cell), table_<n>_values.csv (one row per cell, numbers), seeds_iv_vi.md / .csv /
.tex (Tables IV-VI's numbers per seed), figure_3.png and report.html (the tables, learning curves and run
statuses); `trimming` writes mini-batch trimming's Table 1 (table_1.md/.csv/.tex, table_1_values.csv), figure_curves.png and report.html; `apricot` writes Apricot's Tables II-V,
figure_2.png, figure_3.png and report.html from the input, reduced and adapt/ folders; runs whose protocol differs from their
experiment's are not counted (--allow-off-protocol counts them, labelled). Exit status 2 on bad input
(a runs folder that does not exist or holds no run folders, an unknown option value), with the
reason on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from trainfix.results.collect import RunsInputError, collect_runs
from trainfix.results.deepeutaxy_tables import (
    CHANCE_LEVEL_CHOICES,
    STRATEGIES,
    READING_CHOICES,
    max_accuracy_values,
    seed_values,
    select_runs,
    table_iv_values,
    table_vii_values,
    widen,
)
from trainfix.results.protocol import check_protocol
from trainfix.results.render import flat, table_markdown, write_figure, write_frame, write_table
from trainfix.results.report import write_report
from trainfix.results.summary import AT, summarize, summary_markdown, write_summary

TABLE_CHOICES = ("iv", "v", "vi", "vii", "fig3", "all")


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds {text!r}: expected comma-separated integers, e.g. --seeds 0,1,2,3,4") from None


def _str_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m trainfix.results", description=__doc__.split("\n\n")[0])
    papers = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    summary = papers.add_parser("summary", help="one row per configuration of any sweep: mean ± std over seeds, statuses")
    summary.add_argument("--runs", type=Path, required=True, help="folder holding run folders (run.json, metrics.csv), e.g. multirun/<task_name>")
    summary.add_argument("--metric", default="test_acc", help="metrics.csv column to summarize (default test_acc)")
    summary.add_argument("--at", choices=AT, default="last", help="per run: the last epoch's value (default) or the maximum over epochs")
    summary.add_argument("--out", type=Path, help="also write the summary to this .md or .csv file")
    report = papers.add_parser("report", help="one self-contained HTML report: summary, learning curves, run statuses")
    report.add_argument("--runs", type=Path, required=True, help="folder holding run folders, e.g. multirun/<task_name>")
    report.add_argument("--out", type=Path, required=True, help="the .html file to write")
    report.add_argument("--metric", default="test_acc", help="metrics.csv column of the summary (default test_acc)")
    report.add_argument("--at", choices=AT, default="last", help="per run: the last epoch's value (default) or the maximum over epochs")
    de = papers.add_parser("deepeutaxy", help="DeepEutaxy Tables IV-VII and Figure 3 (paper, ours, diff)")
    de.add_argument("--runs", type=Path, required=True, help="multirun folder: one sub-folder per run (run.json, metrics.csv)")
    de.add_argument("--out", type=Path, required=True, help="folder for the md/csv/tex/png files")
    de.add_argument("--base-runs", type=Path, help="Table VII: folder holding the Base runs (200-epoch SPL runs), e.g. the Table IV "
                    "multirun (default: the folder the runs' config.init_from points into)")
    de.add_argument("--table", choices=TABLE_CHOICES, default="all", help="what to build (default: all that the runs allow)")
    de.add_argument("--convergence", choices=sorted(READING_CHOICES), default="auto",
                    help="Eq. 12 reading: auto (default) = full when every run recorded grad_norm_full, else last; "
                    "last = grad_norm_last, mean = grad_norm_mean, full = grad_norm_full (whole training set)")
    de.add_argument("--epsilon", type=float, help="Eq. 12 threshold (default: each run's config.convergence.epsilon, else 0.01)")
    de.add_argument("--seeds", type=_int_list, help="expected seeds, e.g. 0,1,2,3,4 (default: every seed found in the runs)")
    de.add_argument("--rows", type=_str_list, help="table rows, e.g. cnn1,lenet5 (default: the rows found in the runs)")
    de.add_argument("--variant", help="strategy variant to use when the runs hold several (paper | authors_code)")
    mon = papers.add_parser("monitor", help="oscillating-loss study: detection rate, pair index, constant vs dynamic checking")
    mon.add_argument("--runs", type=Path, required=True, help="multirun folder of experiment=monitor/ol_mnist runs")
    mon.add_argument("--out", type=Path, required=True, help="folder for tables (md/csv/tex), per_run.csv, histograms.png, report.html")
    mon.add_argument("--budgets", type=_int_list, help="epoch budgets to report, e.g. 50,100,125,150 (default: each run's planned epochs)")
    mon.add_argument("--replay", action="store_true", help="count a longer run's first b epochs as a run of budget b (constant-LR Adam only)")
    mon.add_argument("--timing", type=Path, help="JSON with check_s, seconds per check (benchmarks/monitor_overhead.py --out), for Eq. 4.1 when the runs did not run the monitor")
    de.add_argument("--train-measure", choices=("same", "code"), default="same",
                    help="train accuracy: same = eval-mode pass for every strategy (default); code = as the authors' code "
                    "measured it (DE, SPL+DE and Table VII's SPL row: running mean in training mode)")
    de.add_argument("--band", choices=("minmax", "std"), default="minmax", help="Figure 3 error band over seeds (default min..max)")
    de.add_argument("--chance-level", choices=CHANCE_LEVEL_CHOICES, default="exclude",
                    help="a dead network (a finished run whose training accuracy never exceeded 2 / num_classes and whose "
                    "gradient vanished): exclude "
                    "(default; its cells read 'chance level') or count it as any finished run; captions name such seeds")
    de.add_argument("--allow-off-protocol", action="store_true",
                    help="count runs whose epochs, data subsets, batch size, optimizer, ... differ from their experiment's "
                    "(labelled in the captions); default: they are not counted and the captions list them with the reason")
    ap = papers.add_parser("apricot", help="Apricot Tables II-V, Figures 2-3 and report.html (paper, ours)")
    ap.add_argument("--runs", type=Path, required=True, help="multirun folder of experiment=apricot/... runs and their adapt/ passes")
    ap.add_argument("--out", type=Path, required=True, help="folder for the md/csv/tex/png/html files")
    leap = papers.add_parser("leap", help="LEAP Table 1 (paper, ours, diff), convergence curves, 2-D embeddings, report.html")
    leap.add_argument("--runs", type=Path, required=True, help="multirun folder of LEAP/SPLD/Random runs")
    leap.add_argument("--out", type=Path, required=True, help="folder for table_1.md/.csv/.tex, curves.png, embedding.png, report.html")
    leap.add_argument("--rows", type=_str_list, help="Table 1 columns (data sets), e.g. mnist,fashion_mnist (default: all five)")
    trim = papers.add_parser("trimming", help="mini-batch trimming Table 1 (test error, off / on: paper, ours, diff) and learning curves")
    trim.add_argument("--runs", type=Path, required=True, help="multirun folder: one sub-folder per run (run.json, metrics.csv)")
    trim.add_argument("--out", type=Path, required=True, help="folder for the md/csv/tex/png files and report.html")
    trim.add_argument("--title", help="report title (default: names the runs folder)")
    trim.add_argument("--strict", action="store_true", help="exit 1 when a cell's runs failed for another reason than missing data")
    return top


def build_monitor_study(args: argparse.Namespace) -> list[Path]:
    """The oscillating-loss study (trainfix.results.monitor_study): tables, histograms, per-run values, report."""
    from trainfix.results.monitor_study import (
        detection_table, histograms, load_paper, load_timing, replay_check, schedule_table, study_runs,
    )

    runs = collect_runs(args.runs)
    paper = load_paper()
    study = study_runs(runs, args.budgets, replay=args.replay)
    if study.empty:
        raise ValueError(f"--runs {args.runs}: no finished run with a recorded accuracy series "
                         f"({', '.join(f'{n} {s}' for s, n in runs.runs['status'].value_counts().items())})")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tables = [detection_table(study, paper), schedule_table(study, load_timing(args.timing)), replay_check(runs)]
    written: list[Path] = []
    for table in tables:
        if len(table):
            written += write_table(table.set_index(table.columns[0]), out, stem=table.attrs["stem"])
            print(f"\n{table.attrs['title']}\n{table_markdown(table.set_index(table.columns[0]))}")
    written.append(write_frame(study, out / "per_run.csv"))
    figure = histograms(study, paper)
    caption = "Pair index (ours vs the thesis) and the online detection epoch under each checking schedule"
    written.append(write_figure(figure, out / "histograms.png", description=caption))
    shown = [t.set_index(t.columns[0]).rename_axis(t.columns[0]) for t in tables if len(t)]
    for original, table in zip([t for t in tables if len(t)], shown):
        table.attrs.update(original.attrs)
    written.append(write_report(runs, out / "report.html", title=f"Oscillating-loss study: {args.runs}", tables=shown,
                                figures=[(caption, figure)]))
    return written


def build_leap(args: argparse.Namespace) -> list[Path]:
    """LEAP Table 1, its curves and embedding plots, and the HTML report (see trainfix.results.leap_tables)."""
    from trainfix.results import leap_tables  # matplotlib only when plotting

    runs = collect_runs(args.runs)
    values = leap_tables.table_1_values(runs)
    if args.rows:
        known = list(dict.fromkeys(values["row"]))
        unknown = [row for row in args.rows if row not in known]
        if unknown:
            raise ValueError(f"--rows {','.join(unknown)}: not a LEAP Table 1 data set; accepted: {','.join(known)}")
        values = values[values["row"].isin(args.rows)].reset_index(drop=True)
    table = leap_tables.table_1(values)
    print(table_markdown(table))
    out = Path(args.out)
    written = write_table(table, out)
    curve_data = leap_tables.curves(runs)
    written += [write_frame(curve_data, out / "curves.csv"), write_frame(values, out / "table_1_values.csv")]
    curve_caption = ("Test accuracy (%) against mini-batch updates, mean over finished seeds (band: min..max), "
                     "LEAP vs SPLD vs Random (the paper's Figures 2, 4, 6, 7, 9, 10).")
    points = leap_tables.embedding_points(runs)
    embed_caption = ("The 2-D Magnet-loss embedding of the training set at the LEAP run's last refresh (2,000 samples, "
                     "coloured by class; crosses: the K clusters per class), the paper's Figures 3b, 5b, 8b, 11b.")
    figures = [(curve_caption, leap_tables.curves_figure(curve_data)), (embed_caption, leap_tables.embedding_figure(points))]
    for (caption, figure), name in zip(figures, ("curves.png", "embedding.png"), strict=True):
        written.append(write_figure(figure, out / name, description=caption))
    written.append(write_report(runs, out / "report.html", title=f"LEAP reproduction: {args.runs}", tables=[flat(table)], figures=figures))
    return written


def build_apricot(args: argparse.Namespace) -> list[Path]:
    from trainfix.results.apricot_tables import build

    return build(args.runs, args.out)


def base_folder_from_init(runs: pd.DataFrame) -> Path | None:
    """The multirun folder holding the Base runs, read from the Table VII runs' `config.init_from`
    (<multirun>/<base run>/checkpoints/last.ckpt) when they all point into one existing folder."""
    starts = {Path(p) for p in runs.loc[runs["table_vii_role"].notna(), "init_from"].dropna()}
    folders = {p.parent.parent.parent for p in starts if p.parent.name == "checkpoints"}
    if len(folders) == 1 and next(iter(folders)).is_dir():
        folder = next(iter(folders))
        print(f"note: Table VII Base runs read from {folder} (the runs' init_from); --base-runs overrides", file=sys.stderr)
        return folder
    return None


def build_deepeutaxy(args: argparse.Namespace) -> list[Path]:
    """Build what `args.table` asks for; print each table's Markdown; return the files written."""
    if args.epsilon is not None and not args.epsilon > 0:
        raise ValueError(f"--epsilon {args.epsilon}: must be > 0")
    runs = check_protocol(collect_runs(args.runs, args.train_measure), allow=args.allow_off_protocol)
    base_folder = args.base_runs or base_folder_from_init(runs.runs)
    base = check_protocol(collect_runs(base_folder, args.train_measure), allow=args.allow_off_protocol) if base_folder else None
    options = {"convergence": args.convergence, "epsilon": args.epsilon, "seeds": args.seeds, "rows": args.rows, "variant": args.variant,
               "chance_level": args.chance_level}
    main_runs = select_runs(runs.runs, roles=[None], strategies=STRATEGIES, variant=args.variant)
    has_vii = bool(runs.runs["table_vii_role"].notna().any())
    wanted = {"iv", "v", "vi", "vii", "fig3"} if args.table == "all" else {args.table}
    if main_runs.empty and wanted & {"iv", "v", "vi", "fig3"}:
        if args.table != "all":
            raise RunsInputError(f"{args.runs} holds no BL/SPL/DE runs for Tables IV-VI (runs without config.table_vii_role); "
                                 f"found {len(runs.runs)} run folders")
        print(f"note: Tables IV-VI and Figure 3 skipped: {args.runs} holds no BL/SPL/DE runs without table_vii_role", file=sys.stderr)
        wanted -= {"iv", "v", "vi", "fig3"}
    if "vii" in wanted and not has_vii and args.table == "all":
        print(f"note: Table VII skipped: no run in {args.runs} has config.table_vii_role (build it with --table vii)", file=sys.stderr)
        wanted.discard("vii")
    if not wanted:
        raise RunsInputError(f"{args.runs}: nothing to build from its {len(runs.runs)} run folders")

    written: list[Path] = []
    tables: list[pd.DataFrame] = []
    figures = []
    builders = {
        "iv": lambda: table_iv_values(runs, **options),
        "v": lambda: max_accuracy_values(runs, "train", **options),
        "vi": lambda: max_accuracy_values(runs, "test", **options),
        "vii": lambda: table_vii_values(runs, base, **options),
    }
    for key in ("iv", "v", "vi", "vii"):
        if key in wanted:
            values = builders[key]()
            table = widen(values, index_name="Method" if key == "vii" else "Model")
            print(table_markdown(table))
            written += write_table(table, args.out, values=values)
            tables.append(flat(table))
    if wanted & {"iv", "v", "vi"}:
        per_seed = seed_values(runs, **options)
        written += write_table(per_seed, args.out)
        tables.append(per_seed)
    if "fig3" in wanted:
        from trainfix.results.figures import figure_3, figure_3_caption  # matplotlib only when plotting

        figure_options = {"band": args.band, "variant": args.variant, "seeds": args.seeds, "convergence": args.convergence,
                          "chance_level": args.chance_level, "rows": args.rows}
        figure = figure_3(runs, **figure_options)
        written.append(write_figure(figure, Path(args.out) / "figure_3.png", description="\n".join(figure_3_caption(runs, **figure_options))))
        figures.append(("Figure 3 (as figure_3.png): " + " ".join(figure_3_caption(runs, **figure_options)), figure))
    written.append(write_report(runs, Path(args.out) / "report.html", title=f"DeepEutaxy reproduction: {args.runs}",
                                tables=tables, figures=figures))
    return written


def build_trimming(args: argparse.Namespace) -> list[Path]:
    """Table 1 (md/csv/tex + values), the learning-curve figure and the HTML report into args.out."""
    from trainfix.results.trimming_tables import curves_figure, failed_cells, provenance, table_1, table_1_values

    runs = collect_runs(args.runs)
    values = table_1_values(runs)
    table = table_1(values, provenance(runs))
    print(table_markdown(table))
    out = Path(args.out)
    written = write_table(table, out) + [write_frame(values, out / "table_1_values.csv")]
    figures = []
    try:
        figure = curves_figure(runs)
    except ValueError as exc:  # nothing finished yet: the tables and report still say why
        print(f"note: figure skipped: {exc}", file=sys.stderr)
    else:
        written.append(write_figure(figure, out / "figure_curves.png", description=" ".join(provenance(runs))))
        figures.append(("Learning curves (figure_curves.png): test error, training loss and r per epoch, trimming off vs on.", figure))
    written.append(write_report(runs, out / "report.html", title=args.title or f"Mini-batch trimming: {args.runs}",
                                tables=[flat(table)], figures=figures))
    failed = failed_cells(values)
    if args.strict and len(failed):
        cells = ", ".join(f"{r.dataset}/{r.row}/{r.arm}: {r.ours}" for r in failed.itertuples())
        raise RunsFailedError(f"{len(failed)} cells have failed runs ({cells}); see each run folder's run.json")
    return written


class RunsFailedError(RuntimeError):
    """`trimming --strict`: some cells failed for another reason than missing data."""


def summarize_command(args: argparse.Namespace) -> list[Path]:
    table = summarize(collect_runs(args.runs), args.metric, args.at)
    print(summary_markdown(table))
    return [write_summary(table, args.out)] if args.out else []


def report_command(args: argparse.Namespace) -> list[Path]:
    return [write_report(collect_runs(args.runs), args.out, metric=args.metric, at=args.at)]


COMMANDS = {
    "summary": summarize_command,
    "report": report_command,
    "deepeutaxy": build_deepeutaxy,
    "monitor": build_monitor_study,
    "apricot": build_apricot,
    "leap": build_leap,
    "trimming": build_trimming,
}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        written = COMMANDS[args.command](args)
    except (RunsInputError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RunsFailedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("wrote:\n" + "\n".join(f"  {path}" for path in written), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
