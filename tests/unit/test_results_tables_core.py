"""The results core that every paper's tables go through: the registry of paper commands, the cell
numbers (mean, sample std, n, seeds, statuses of the rest), and the paper | ours | diff layout."""

from __future__ import annotations

import math
from importlib import import_module

import pandas as pd
import pytest

from trainfix.results.__main__ import parser
from trainfix.results.cells import SOURCES, aggregate_runs, layout
from trainfix.results.paper import load_paper
from trainfix.results.papers import PAPERS


def test_every_registered_paper_is_a_command_with_its_help() -> None:
    commands = parser()._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse keeps subcommands there
    assert list(commands) == ["summary", "report", *PAPERS]
    for name, module in PAPERS.items():
        paper = import_module(module)
        assert callable(paper.add_arguments) and callable(paper.build) and paper.HELP
        assert {"--runs", "--out"} <= set(commands[name]._option_string_actions)  # noqa: SLF001
    assert parser().parse_args(["leap", "--runs", "r", "--out", "o", "--rows", "mnist,svhn"]).rows == ["mnist", "svhn"]


def test_aggregate_counts_finished_runs_with_a_value_and_lists_the_rest() -> None:
    runs = pd.DataFrame({"status": ["finished", "finished", "finished", "failed", "running", "failed"],
                         "seed": [0, 1, 2, 3, 4, 5], "value": [97.0, 98.0, math.nan, 90.0, 50.0, math.nan]})
    cell = aggregate_runs(runs, "value")
    assert (cell.n, cell.mean, cell.seeds) == (2, 97.5, (0, 1))
    assert cell.std == pytest.approx(math.sqrt(0.5))  # ddof 1: ((0.5^2 + 0.5^2) / 1) ** 0.5
    assert dict(cell.rest) == {"failed": 2, "finished": 1, "running": 1}
    one = aggregate_runs(runs.head(1), "value")
    assert one.n == 1 and math.isnan(one.std)
    assert math.isnan(aggregate_runs(runs.tail(1), "value").mean)


def test_layout_keeps_first_seen_rows_and_columns() -> None:
    cells = [("LEAP", "MNIST", {"paper": "99.31", "ours": "97.23", "diff": "-2.08"}),
             ("LEAP", "SVHN", {"paper": "97.65", "ours": "not run", "diff": ""}),
             ("Random", "MNIST", {"paper": "99.24", "ours": "98.82", "diff": "-0.42"}),
             ("Random", "SVHN", {"paper": "97.43", "ours": "not run", "diff": ""})]
    table = layout(cells, "Sampling method", {"stem": "table_1"})
    assert list(table.index) == ["LEAP", "Random"] and table.index.name == "Sampling method"
    assert list(table.columns) == [(c, s) for c in ("MNIST", "SVHN") for s in SOURCES]
    assert table.loc["Random", ("MNIST", "diff")] == "-0.42" and table.attrs["stem"] == "table_1"


def test_one_loader_reads_every_paper_file_and_names_the_files_when_one_is_missing() -> None:
    assert load_paper("leap_table_1")["title"]
    assert load_paper("deepeutaxy_table_iv")["rows"]["lenet5"]
    with pytest.raises(FileNotFoundError, match="leap_table_1"):
        load_paper("no_such_table")
