"""`python -m trainfix.eval` on the last checkpoint of a run trained by `python -m trainfix.train` reproduces
the run's final test_acc in metrics.csv exactly (LeNet-5, 2 epochs on 1,800 real MNIST images, CPU)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.integration.test_eval import TEST_SIZE, last_row, run_overrides


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, data_dir, cli) -> Path:
    """A finished CLI run with a validation split; its folder is shared by the tests (they only read it)."""
    folder = tmp_path_factory.mktemp("finished") / "run"
    cli.run(cli.train(*run_overrides(data_dir), f"hydra.run.dir={folder}"), check=True)
    assert json.loads((folder / "run.json").read_text())["status"] == "finished"
    return folder


def test_eval_cli_reproduces_the_final_test_acc_exactly(run_dir, tmp_path, cli):
    out = tmp_path / "eval.json"
    done = cli.run(
        [sys.executable, "-m", "trainfix.eval", f"run_dir={run_dir}", f"out={out}", "accelerator=cpu"], cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(out.read_text())
    row = last_row(run_dir)
    assert record["checkpoint"]["global_step"] == int(row["global_step"]) == 16  # 1,800 samples / 250, 2 epochs
    assert record["num_samples"] == TEST_SIZE
    # The exact digits metrics.csv holds, and the exact count of correct images.
    assert "%.8g" % record["metrics"]["test_acc"] == row["test_acc"]
    assert "%.8g" % record["metrics"]["test_loss"] == row["test_loss"]
    assert round(record["metrics"]["test_acc"] * TEST_SIZE) == round(float(row["test_acc"]) * TEST_SIZE)
    assert record["matches_recorded"] is True
    assert record["metrics"]["test_acc"] > 0.5  # a trained LeNet-5; chance is 0.1
    assert "identical" in done.stdout and "test_acc" in done.stdout
    assert not (run_dir / "eval.json").exists()  # out= was honoured
    assert not list(tmp_path.glob("*.log")) and not (tmp_path / ".hydra").exists()  # an evaluation leaves no log files
