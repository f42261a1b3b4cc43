"""`make reports` rebuilds an evidence folder's tables, figures, report.html and PROVENANCE.md offline from its
committed runs/, with the build command of its results/manifest.yaml entry (here on a copy of one folder)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import Cli

REPO = Path(__file__).resolve().parents[2]
FOLDER = "results/trimming/fmnist_lenet5_cpu"  # the smallest folder with a paper table: 6 runs


def test_make_reports_rebuilds_a_folder_from_its_committed_runs(tmp_path: Path, cli) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    manifest = yaml.safe_load((REPO / "results" / "manifest.yaml").read_text())
    entry = next(e for e in manifest["folders"] if e["path"] == FOLDER)
    copy = tmp_path / FOLDER
    shutil.copytree(REPO / FOLDER / "runs", copy / "runs")  # the records only: everything else is rebuilt
    (tmp_path / "results" / "manifest.yaml").write_text(yaml.safe_dump({"folders": [entry]}))
    done = cli.run(
        Cli.make(
            "reports",
            f"REPORTS_MANIFEST={tmp_path / 'results' / 'manifest.yaml'}",
            venv=tmp_path / "venv",
        ),
        env={"PYTHONPATH": str(REPO / "src")},
        cwd=REPO,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    built = {p.name for p in copy.iterdir()}
    assert {
        "table_1.md",
        "table_1.csv",
        "table_1.tex",
        "table_1_values.csv",
        "figure_curves.png",
        "report.html",
        "PROVENANCE.md",
    } <= built
    report = (copy / "report.html").read_text()
    assert "data:image/png;base64," in report and 'src="http' not in report  # self-contained
    # the same numbers as the committed table (only the runs path in the caption may differ)
    committed = [line for line in (REPO / FOLDER / "table_1.md").read_text().splitlines() if line.startswith("|")]
    rebuilt = [line for line in (copy / "table_1.md").read_text().splitlines() if line.startswith("|")]
    assert rebuilt == committed
    assert (copy / "PROVENANCE.md").read_text() == (REPO / FOLDER / "PROVENANCE.md").read_text()
