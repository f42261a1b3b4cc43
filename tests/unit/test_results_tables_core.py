"""The results core that every paper's tables go through: the registry of paper commands, the cell
numbers (mean, sample std, n, seeds, statuses of the rest), the paper | ours | diff layout, and the
method-minus-baseline difference with its Welch interval."""

from __future__ import annotations

import math
from importlib import import_module

import pandas as pd
import pytest
from scipy import stats

from trainfix.papers import PAPERS
from trainfix.papers.published import load_paper
from trainfix.results.__main__ import parser
from trainfix.results.cells import (
    SOURCES,
    Entries,
    RunPool,
    aggregate,
    aggregate_runs,
    difference,
    layout,
    spread_text,
    versus,
    widen,
)


def test_every_registered_paper_is_a_command_with_its_help() -> None:
    commands = parser()._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse keeps subcommands there
    assert list(commands) == ["summary", "report", *PAPERS]
    for name, module in PAPERS.items():
        paper = import_module(module)
        assert callable(paper.build) and paper.HELP
        options = commands[name]._option_string_actions  # noqa: SLF001
        assert {"--runs", "--out", "--title", "--note"} <= set(options)  # added by __main__ for every paper
        assert (options["--runs"].help, options["--out"].help) == (paper.RUNS_HELP, paper.OUT_HELP)
    assert parser().parse_args(["leap", "--runs", "r", "--out", "o", "--rows", "mnist,svhn"]).rows == ["mnist", "svhn"]


def test_aggregate_counts_finished_runs_with_a_value_and_lists_the_rest() -> None:
    runs = pd.DataFrame(
        {
            "status": ["finished", "finished", "finished", "failed", "running", "failed"],
            "seed": [0, 1, 2, 3, 4, 5],
            "value": [97.0, 98.0, math.nan, 90.0, 50.0, math.nan],
        }
    )
    cell = aggregate_runs(runs, "value")
    assert (cell.n, cell.mean, cell.seeds) == (2, 97.5, (0, 1))
    assert cell.std == pytest.approx(math.sqrt(0.5))  # ddof 1: ((0.5^2 + 0.5^2) / 1) ** 0.5
    assert dict(cell.rest) == {"failed": 2, "finished": 1, "running": 1}
    one = aggregate_runs(runs.head(1), "value")
    assert one.n == 1 and math.isnan(one.std)
    assert math.isnan(aggregate_runs(runs.tail(1), "value").mean)


def test_every_mean_over_seeds_is_written_in_one_shape() -> None:
    """Cells of every paper, the summary and the findings: mean ± spread (notes), each part only when there is one."""
    assert spread_text("97.23") == "97.23"
    assert spread_text("97.23", "0.06", ["n=3"]) == "97.23 ± 0.06 (n=3)"
    assert spread_text("18.00", "2.83", ["n=2", "1 not finished"]) == "18.00 ± 2.83 (n=2; 1 not finished)"
    assert spread_text("0.1013", None, ["", "≈ chance 0.10"]) == "0.1013 (≈ chance 0.10)"
    three_of_five = aggregate("acc", [98.0, 99.0, 97.0, "failed", "missing"])
    assert three_of_five.text == "98.00% ± 1.00 (3/5; 1 failed, 1 missing)"
    assert aggregate("acc", [98.0, 99.0]).text == "98.50% ± 0.71 (n=2)"
    assert aggregate("epochs", [4.0, "not converged"]).text == "4 (1/2; 1 not converged)"


def test_a_seed_with_several_run_folders_uses_the_best_status_then_the_latest() -> None:
    runs = pd.DataFrame(
        {
            "run_id": ["a", "b", "c", "d", "e", "f", "g", "h"],
            "row": ["lenet5"] * 7 + ["cnn1"],
            "strategy": ["BL"] * 6 + ["DE", "BL"],
            "seed": [0, 0, 1, 1, 2, 2, 3, 3],
            "status": ["failed", "finished", "finished", "finished", "running", "off protocol", "finished", "finished"],
            "end_time": ["2026-03", "2026-01", "2026-01", "2026-02", None, "2026-05", "2026-01", "2026-01"],
            "path": list("abcdefgh"),
        }
    )
    pool = RunPool(runs, {}, "strategy")
    chosen = pool.seed_runs("lenet5", "BL", [0, 1, 2, 3])
    # seed 0: finished beats a later failed run; 1: the later of two finished; 2: running beats off protocol;
    # 3: only another row's and another strategy's runs, so missing.
    assert [(seed, None if run is None else run["run_id"]) for seed, run in chosen] == [
        (0, "b"),
        (1, "d"),
        (2, "e"),
        (3, None),
    ]
    assert pool.duplicates() == 3
    same_end = RunPool(runs.assign(end_time=None), {}, "strategy").seed_runs("lenet5", "BL", [1])
    assert same_end[0][1]["run_id"] == "c"  # same status, no end time: the first run_id


def test_layout_keeps_first_seen_rows_and_columns() -> None:
    cells = [
        ("LEAP", "MNIST", {"paper": "99.31", "ours": "97.23", "diff": "-2.08"}),
        ("LEAP", "SVHN", {"paper": "97.65", "ours": "not run", "diff": ""}),
        ("Random", "MNIST", {"paper": "99.24", "ours": "98.82", "diff": "-0.42"}),
        ("Random", "SVHN", {"paper": "97.43", "ours": "not run", "diff": ""}),
    ]
    table = layout(cells, "Sampling method", {"stem": "table_1"})
    assert list(table.index) == ["LEAP", "Random"] and table.index.name == "Sampling method"
    assert list(table.columns) == [(c, s) for c in ("MNIST", "SVHN") for s in SOURCES]
    assert table.loc["Random", ("MNIST", "diff")] == "-0.42" and table.attrs["stem"] == "table_1"


def test_one_loader_reads_every_paper_file_and_names_the_files_when_one_is_missing() -> None:
    assert load_paper("leap_table_1")["title"]
    assert load_paper("deepeutaxy_table_iv")["rows"]["lenet5"]
    with pytest.raises(FileNotFoundError, match="leap_table_1"):
        load_paper("no_such_table")


def test_difference_of_two_cells_is_welchs_interval() -> None:
    # Hand case: method 98.86, 98.91, 98.80 (mean 98.8567, std 0.055) vs baseline 98.04, 98.10, 97.95 (mean 98.03,
    # std 0.076): difference +0.83, its 95 % interval that of scipy's Welch t-test.
    method, baseline = [98.86, 98.91, 98.80], [98.04, 98.10, 97.95]
    ci = stats.ttest_ind(method, baseline, equal_var=False).confidence_interval()
    d = difference(method, baseline)
    assert d.diff == pytest.approx(98.856667 - 98.03) and (d.low, d.high) == pytest.approx((ci.low, ci.high))
    text, columns = versus("BL", method, baseline)
    assert text == f"+0.83 [{ci.low:+.2f}, {ci.high:+.2f}]" == "+0.83 [+0.67, +0.98]"
    assert list(columns) == ["vs_bl_diff", "vs_bl_ci_low", "vs_bl_ci_high"]
    assert list(columns.values()) == pytest.approx([d.diff, ci.low, ci.high])

    # A seed-per-cell table (DeepEutaxy's): cells read mean ± std (n), and the compared cell gets a "vs BL" column.
    cell, base = aggregate("acc", [*method, "failed"]), aggregate("acc", baseline)
    assert cell.text == "98.86% ± 0.06 (3/4; 1 failed)" and base.text == "98.03% ± 0.08 (n=3)"
    assert aggregate("epochs", [12.0]).text == "12 (n=1)"
    entries = Entries("BL")
    add = entries.at("lenet5", "LeNet-5", {"test_acc": {"BL": 97.93, "DE": 98.78}})
    add("BL test acc", "acc", "test_acc", "BL", base)
    add("DE test acc", "acc", "test_acc", "DE", cell, base)
    values = entries.frame({"stem": "t"})
    assert values["vs_bl_ci_low"].iloc[1] == pytest.approx(ci.low) and values["paper"].tolist() == [97.93, 98.78]
    assert values.attrs == {"stem": "t"} and list(values["vs"].fillna("")) == ["", "vs BL"]
    table = widen(values)
    assert table.loc["LeNet-5", ("DE test acc", "vs BL")] == "+0.83 [+0.67, +0.98]"
    assert ("BL test acc", "vs BL") not in table.columns
    assert values["ours_std"].iloc[0] == pytest.approx(0.0755, abs=1e-4)

    # One seed in an arm: the difference without an interval; an arm without a number: none.
    assert versus("BL", [97.0], baseline)[0] == "-1.03 (no interval: n < 2)"
    assert difference([], baseline) is None and versus("BL", [], baseline)[0] == "n/a"
    assert all(math.isnan(v) for v in versus("off", None)[1].values())
