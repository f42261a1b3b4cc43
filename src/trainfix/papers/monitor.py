"""The dynamic-checking thesis' oscillating-loss study: detection rate and pair index (Tables 3-1/3-2), the
online detection epoch under each checking schedule, AutoTrainer's verdict, detection delay and Eq. 4.1's
overhead; the judging and the numbers are the monitor's (`trainfix.monitor.study`), titles and captions
`published/monitor_tables.yaml`'s.

    python -m trainfix.results monitor --runs multirun/monitor_ol_full --out results/monitor_ol_full
        [--replay --budgets 50,100] [--only first_epoch,detection]

Writes table_detection, table_depth, table_first_epoch, table_budgets, table_schedules, table_schedule_pairs,
table_replay_check (.md/.csv/.tex, when not empty; `--only` for some), per_run.csv, histograms.png and report.html.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from trainfix.monitor import contrasts
from trainfix.monitor import study as monitor_study
from trainfix.papers.published import declarations, declare, load_paper
from trainfix.results.arguments import int_list, report_title, str_list
from trainfix.results.collect import RunCollection, collect_runs
from trainfix.results.configs import require_each_once, require_same_configs
from trainfix.results.report import publish


def study_runs(runs: RunCollection, budgets: Iterable[int] | None = None, replay: bool = False) -> pd.DataFrame:
    """One row per (run, budget) (`trainfix.monitor.study.study_runs`); ValueError when two runs of one case
    (hidden layers, budget) differ in a key besides the seed (and trainer.max_epochs: a replayed longer run), or
    when two stand for one seed of a case (which one counts is the user's choice, not the order of reading)."""
    study = monitor_study.study_runs(runs, budgets, replay)
    require_each_once(study, monitor_study.CASE_SEED, "run_id", "Oscillating-loss study", runs.root)
    for (layers, budget), group in study.groupby(["hidden_layers", "budget"], dropna=False) if len(study) else []:
        require_same_configs(
            {str(run_id): runs.configs.get(run_id) or {} for run_id in group["run_id"]},
            f"Oscillating-loss study, {layers} hidden layers, {budget} epochs",
            runs.root,
            ["trainer.max_epochs"],
        )
    return study


HELP = "oscillating-loss study: detection rate, pair index, constant vs dynamic checking"
RUNS_HELP = "multirun folder of experiment=monitor/ol_mnist runs"
OUT_HELP = "folder for tables (md/csv/tex), per_run.csv, histograms.png, report.html"


OUTPUTS = ("detection", "depth", "first_epoch", "budgets", "schedules", "schedule_pairs", "replay_check", "histograms")


def outputs(text: str) -> list[str]:
    """ "first_epoch,detection" -> the names, each one of OUTPUTS (argparse's type: a clear error otherwise)."""
    names = str_list(text)
    unknown = [name for name in names if name not in OUTPUTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"--only {text!r}: {', '.join(unknown) or 'nothing named'} is not an output of the study; "
            f"accepted: {', '.join(OUTPUTS)} (comma-separated)"
        )
    return names


def _refuse_stale(out: Path, wanted: Iterable[str]) -> None:
    """ValueError when `out` holds a study output that this build leaves out (`--only`): it would stay beside the
    new ones, computed from other runs; the user removes it or builds it too (nothing here deletes it)."""
    left_out = [name for name in OUTPUTS if name not in wanted]
    stale = sorted(
        p.name
        for name in left_out
        for p in (out.glob("histograms.png") if name == "histograms" else out.glob(f"table_{name}.*"))
    )
    if stale:
        raise ValueError(
            f"--out {out} holds {', '.join(stale)}, which --only {','.join(wanted)} would not rewrite (left stale "
            "beside the new tables): remove them, or name them in --only"
        )


def add_arguments(mon: argparse.ArgumentParser) -> None:
    mon.add_argument(
        "--budgets",
        type=int_list,
        help="epoch budgets to report, e.g. 50,100,125,150 (default: each run's planned epochs)",
    )
    mon.add_argument(
        "--replay",
        action="store_true",
        help="count a longer run's first b epochs as a run of budget b (constant-LR Adam only)",
    )
    mon.add_argument(
        "--only",
        type=outputs,
        help=f"write only these of the study's outputs (default: all): {', '.join(OUTPUTS)}; e.g. first_epoch for "
        "1-epoch runs, whose checking schedules never check",
    )
    mon.add_argument(
        "--timing",
        type=Path,
        help="JSON with check_s, seconds per check (benchmarks/monitor_overhead.py --out), for Eq. 4.1 "
        "when the runs did not run the monitor",
    )


def build(args: argparse.Namespace) -> list[Path]:
    """The study's tables, histograms, per-run values and report into args.out."""
    from trainfix.monitor.study_figure import histograms  # matplotlib only when plotting

    wanted = args.only or OUTPUTS
    _refuse_stale(Path(args.out), wanted)  # before the study is computed: a refusal costs nothing
    runs = collect_runs(args.runs)
    paper = load_paper("monitor_thesis")
    study = study_runs(runs, args.budgets, replay=args.replay)
    if study.empty:
        raise ValueError(
            f"--runs {args.runs}: no finished run with a recorded accuracy series "
            f"({', '.join(f'{n} {s}' for s, n in runs.runs['status'].value_counts().items())})"
        )
    Path(args.out).mkdir(parents=True, exist_ok=True)
    timing = monitor_study.load_timing(args.timing)
    declared, text = declarations("monitor_tables"), load_paper("monitor_tables")
    t2_source = "(from --timing)" if timing else "(monitor_check_s of the runs)"
    tables = {
        "detection": lambda: monitor_study.detection_table(study, paper),
        "depth": lambda: contrasts.depth_table(study, paper),
        "first_epoch": lambda: monitor_study.first_epoch_table(study),
        "budgets": lambda: contrasts.budget_table(study, paper),
        "schedules": lambda: monitor_study.schedule_table(study, timing),
        "schedule_pairs": lambda: monitor_study.schedule_pairs_table(study),
        "replay_check": lambda: monitor_study.replay_check(runs),
    }
    built = {f"table_{name}": table() for name, table in tables.items() if name in wanted}
    figures = (
        [("histograms.png", text["figure"], histograms(study, paper), text["figure"])] if "histograms" in wanted else []
    )
    return publish(
        runs,
        args.out,
        report_title(args, text["report_title"]),
        tables=[
            (declare(t, declared[stem], t2_source=t2_source).set_index(t.columns[0]), None)
            for stem, t in built.items()
            if len(t)
        ],
        frames=[("per_run.csv", study)],
        figures=figures,
        note=args.note,
    )
