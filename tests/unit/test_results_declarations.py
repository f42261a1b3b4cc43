"""Captions and claims are data (papers/published/<paper>_tables.yaml, evidence/findings.yaml): every declared template
fills in, and the core's one difference helper (`cells.versus`) gives the text and values-file numbers every table
prints."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import yaml

from trainfix.evidence.findings import FINDINGS
from trainfix.papers.published import PAPER_DIR, declarations, declare
from trainfix.results.cells import versus


def test_declare_fills_the_title_and_caption_places():
    table = declare(
        pd.DataFrame({"a": [1]}),
        {"stem": "t", "title": "T {x}", "short": "One line, x {x}.", "caption": ["x = {x}", "plain"]},
        x="3",
    )
    assert table.attrs == {"stem": "t", "title": "T 3", "short": "One line, x 3.", "caption": ["x = 3", "plain"]}
    assert declare(pd.DataFrame(), {"stem": "u", "title": "U"}).attrs == {
        "stem": "u",
        "title": "U",
        "short": "",
        "caption": [],
    }


@pytest.mark.parametrize("name", ["monitor_tables", "apricot_tables"])
def test_every_declared_table_has_a_stem_title_short_line_and_caption(name):
    for stem, declared in declarations(name).items():
        assert stem == declared["stem"] and declared["title"] and isinstance(declared["caption"], list)
        assert 0 < len(declared["short"]) <= 120 and "\n" not in declared["short"]  # one line above the table


def test_every_caption_file_parses_and_names_only_known_places():
    known = {"t2_source", "never", "interval", "updates", "baseline", "accuracy", "seeds", "convergence", "levels"}
    known |= {"what", "found", "where", "band", "labels", "unofficial", "sizes", "orders", "r", "retrain_epochs"}
    known |= {"eval_on", "batches_in_pass", "accuracies", "de_setup", "iv", "leap", "trim", "shown", "rows"}
    known |= {"model_seed"}  # Apricot's Table V: the input models a cell averages
    known |= {"table", "TABLE", "roots", "profiles", "data", "hardware", "n_seeds", "folders", "statuses", "extra"}
    known |= {"epsilon", "reading", "why", "meaning", "unused", "columns", "label", "state", "variant", "names", "n"}
    known |= {"counted", "listed", "more", "runs"}  # DeepEutaxy's TableRuns.caption
    import string

    for path in sorted(PAPER_DIR.glob("*_tables.yaml")) + [FINDINGS]:
        texts: list[str] = []

        def walk(node, texts=texts):
            if isinstance(node, str):
                texts.append(node)
            elif isinstance(node, dict):
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(yaml.safe_load(path.read_text()))
        places = {field.split("[")[0] for text in texts for _, field, _, _ in string.Formatter().parse(text) if field}
        assert places <= known, (path.name, places - known)


def test_versus_gives_the_welch_difference_text_and_columns():
    text, columns = versus("off", [10.0, 12.0, 14.0], [20.0, 21.0, 22.0])
    # means 12 and 21: -9.00; Welch interval from std 2 and 1, n 3 each
    assert text.startswith("-9.00 [") and math.isclose(columns["vs_off_diff"], -9.0)
    assert columns["vs_off_ci_low"] < -9.0 < columns["vs_off_ci_high"] < 0
    text, columns = versus("Random", None)
    assert (
        text == ""
        and all(math.isnan(v) for v in columns.values())
        and set(columns)
        == {
            "vs_random_diff",
            "vs_random_ci_low",
            "vs_random_ci_high",
        }
    )
