"""Results from run folders: any sweep's summary and HTML report, a paper's tables and figures.

    python -m trainfix.results summary multirun/<task_name> [--metric test_acc] [--at last|max] [--out x.md|x.csv]
    python -m trainfix.results report multirun/<task_name> --out report.html    # or --runs multirun/<task_name>
    python -m trainfix.results leap --runs multirun/leap_table_1_quick --out results/leap_table_1_quick

`summary` prints one row per configuration (Markdown); `report` writes one self-contained HTML file; a paper
command (one per module of `papers.PAPERS`; its docstring lists its files) writes its tables, figures and
report.html into --out. Exit status 2 on bad input, the reason on stderr; 1 when `--strict` finds failed runs.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module
from pathlib import Path

from trainfix.papers import PAPERS
from trainfix.results.arguments import add_runs_folder, add_runs_out, runs_folder
from trainfix.results.collect import RunsFailedError, RunsInputError, collect_runs
from trainfix.results.report import summary_markdown, write_report, write_summary
from trainfix.results.summary import AT, summarize


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m trainfix.results", description=__doc__.split("\n\n")[0])
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    summary = commands.add_parser(
        "summary", help="one row per configuration of any sweep: mean ± std over seeds, statuses"
    )
    add_runs_folder(summary, "folder holding run folders (run.json, metrics.csv), e.g. multirun/<task_name>")
    summary.add_argument("--metric", default="test_acc", help="metrics.csv column to summarize (default test_acc)")
    report = commands.add_parser(
        "report", help="one self-contained HTML report: summary, learning curves, run statuses"
    )
    add_runs_folder(report, "folder holding run folders, e.g. multirun/<task_name>")
    report.add_argument("--out", type=Path, required=True, help="the .html file to write")
    report.add_argument("--metric", default="test_acc", help="metrics.csv column of the summary (default test_acc)")
    for command in (summary, report):
        at_help = "per run: the last epoch's value (default) or the maximum over epochs"
        command.add_argument("--at", choices=AT, default="last", help=at_help)
    summary.add_argument("--out", type=Path, help="also write the summary to this .md or .csv file")
    for name, module in PAPERS.items():
        paper = import_module(module)
        command = commands.add_parser(name, help=paper.HELP)
        add_runs_out(command, paper.RUNS_HELP, paper.OUT_HELP)
        if hasattr(paper, "add_arguments"):  # the paper's own flags, after the common ones
            paper.add_arguments(command)
    return top


def run_command(args: argparse.Namespace) -> list[Path]:
    """The command's files written (a paper's `build`)."""
    if args.command == "summary":
        table = summarize(collect_runs(args.runs), args.metric, args.at)
        print(summary_markdown(table))
        return [write_summary(table, args.out)] if args.out else []
    if args.command == "report":
        return [write_report(collect_runs(args.runs), args.out, metric=args.metric, at=args.at)]
    return import_module(PAPERS[args.command]).build(args)


def main(argv: list[str] | None = None) -> int:
    top = parser()
    args = top.parse_args(argv)
    if args.command in ("summary", "report"):
        runs_folder(top, args)
    try:
        written = run_command(args)
    except (RunsInputError, ValueError, FileNotFoundError, RunsFailedError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1 if isinstance(exc, RunsFailedError) else 2
    print("wrote:\n" + "\n".join(f"  {path}" for path in written), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
