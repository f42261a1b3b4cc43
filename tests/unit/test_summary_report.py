"""`summary` and `report` on hand-made run folders (numbers checked by hand). (On real tiny LeNet-5 runs:
tests/integration/test_summary_report_runs.py.)

Hand-made sweep (optimizer.lr swept, 2 epochs, test_acc per epoch):
  lr=0.1   seed 0 finished [0.50, 0.70], seed 1 finished [0.60, 0.90], seed 2 failed (error text with <b>)
  lr=0.01  seed 0 finished [0.40, 0.60], seed 1 diverged [0.30, nan]
  lr=0.001 seed 0 data missing (run.json only)
  junk/    an unreadable run.json
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from trainfix.results.__main__ import main
from trainfix.results.collect import collect_runs
from trainfix.results.configs import flat_config as flatten
from trainfix.results.report import render_report
from trainfix.results.summary import summarize, swept_keys

CHROMIUM = Path("/usr/bin/chromium")


def config(lr: float, seed: int, run_dir: Path) -> dict:
    return {
        "seed": seed,
        "run_name": run_dir.name,
        "task_name": "sweep",
        "tags": [],
        "paths": {"output_dir": str(run_dir), "data_dir": "/data"},
        "model": {"name": "mlp"},
        "optimizer": {"_target_": "torch.optim.SGD", "lr": lr},
        "strategy": {"_target_": "trainfix.strategies.baseline.Baseline"},
        "trainer": {"max_epochs": 2, "enable_progress_bar": False},
        "logger": {"csv": {"save_dir": str(run_dir)}},
    }


def craft(
    root: Path, name: str, lr: float, seed: int, status: str, test_acc: list[float] | None, error: str | None = None
) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    record = {
        "status": status,
        "seed": seed,
        "config": config(lr, seed, folder),
        "data": {"label": "MNIST", "num_classes": 10, "official": True},
    }
    if error:
        record["error"] = error
    (folder / "run.json").write_text(json.dumps(record))
    if test_acc is not None:
        n = len(test_acc)
        pd.DataFrame(
            {
                "epoch": range(n),
                "train_loss": [1.0 - a for a in test_acc],
                "train_acc": test_acc,
                "test_loss": [1.5 - a for a in test_acc],
                "test_acc": test_acc,
            }
        ).to_csv(folder / "metrics.csv", index=False)


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    root = tmp_path / "sweep"
    craft(root, "lr0.1_s0", 0.1, 0, "finished", [0.50, 0.70])
    craft(root, "lr0.1_s1", 0.1, 1, "finished", [0.60, 0.90])
    craft(root, "lr0.1_s2", 0.1, 2, "failed", [0.20], error="RuntimeError: shape <b>bad</b>")
    craft(root, "lr0.01_s0", 0.01, 0, "finished", [0.40, 0.60])
    craft(root, "lr0.01_s1", 0.01, 1, "diverged", [0.30, float("nan")])
    craft(
        root,
        "lr0.001_s0",
        0.001,
        0,
        "failed",
        None,
        error="DatasetMissingError: MNIST files not found in /data/MNIST/raw",
    )
    (root / "junk").mkdir()
    (root / "junk" / "run.json").write_text("{not json")
    return root


# --------------------------------------------------------------------------- summary
def test_swept_keys_leave_out_seed_paths_and_logging() -> None:
    a, b = flatten(config(0.1, 0, Path("/x/a"))), flatten(config(0.01, 1, Path("/x/b")))
    assert swept_keys([a, b]) == ["optimizer.lr"]
    assert swept_keys([a, flatten(config(0.1, 3, Path("/y/c")))]) == []


def test_summary_rows_mean_std_and_statuses(sweep: Path) -> None:
    table = summarize(collect_runs(sweep)).set_index("optimizer.lr")
    assert list(table.index) == ["(no readable config)", "0.001", "0.01", "0.1"]  # run folders in path order
    lr1 = table.loc["0.1"]
    assert (lr1["n"], lr1["finished"], lr1["failed"]) == (2, 2, 1)
    assert lr1["mean"] == pytest.approx(0.80)  # last epochs 0.70 and 0.90; the failed run's 0.20 does not count
    assert lr1["std"] == pytest.approx(0.1414213562)  # sample std of (0.7, 0.9)
    assert lr1["test_acc (mean ± std)"] == "0.8000 ± 0.1414"
    assert lr1["seeds"] == "0,1,2"
    lr2 = table.loc["0.01"]
    assert (lr2["n"], lr2["finished"], lr2["diverged"], lr2["test_acc (mean ± std)"]) == (1, 1, 1, "0.6000")
    assert table.loc["0.001", "data missing"] == 1 and table.loc["0.001", "test_acc (mean ± std)"] == "no finished run"
    assert table.loc["(no readable config)", "unreadable"] == 1


def test_summary_at_max(sweep: Path) -> None:
    table = summarize(collect_runs(sweep), "train_loss", at="max").set_index("optimizer.lr")
    assert table.loc["0.1", "mean"] == pytest.approx((0.50 + 0.40) / 2)  # max train_loss = 1 - first test_acc


def test_summary_cli_prints_and_writes(sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "summary.csv"
    assert main(["summary", "--runs", str(sweep), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| optimizer.lr" in printed and "0.8000 ± 0.1414" in printed
    written = pd.read_csv(out, comment="#").set_index("configuration")
    assert written.loc["optimizer.lr=0.1", "mean"] == pytest.approx(0.8) and written.loc["optimizer.lr=0.1", "n"] == 2
    assert main(["summary", "--runs", str(sweep), "--out", str(tmp_path / "summary.txt")]) == 2
    assert "written as .md or .csv" in capsys.readouterr().err
    assert main(["summary", "--runs", str(sweep), "--metric", "test_accuracy"]) == 2
    assert "metric='test_accuracy' is not a column" in capsys.readouterr().err


# --------------------------------------------------------------------------- report
def images(page: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)]


def test_report_crafted_content(sweep: Path, tmp_path: Path) -> None:
    page = render_report(collect_runs(sweep))
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page and "http://" not in page and "https://" not in page  # self-contained
    assert "0.8000 ± 0.1414" in page  # the summary table
    pngs = images(page)
    assert len(pngs) == 2  # lr=0.1 and lr=0.01 have epochs; lr=0.001 (data missing) and junk have none
    assert all(p.startswith(b"\x89PNG\r\n\x1a\n") for p in pngs)
    assert "optimizer.lr=0.001: no run recorded an epoch (data missing)" in page
    assert "RuntimeError: shape &lt;b&gt;bad&lt;/b&gt;" in page and "<b>bad</b>" not in page  # errors shown, escaped
    assert "DatasetMissingError: MNIST files not found" in page
    statuses = re.findall(r">(finished|failed|diverged|data missing|unreadable)</td>", page.split("id='runs'")[1])
    assert sorted(statuses) == ["data missing", "diverged", "failed", "finished", "finished", "finished", "unreadable"]
    assert main(["report", "--runs", str(sweep), "--out", str(tmp_path / "r.txt")]) == 2
