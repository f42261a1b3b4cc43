"""kill -9 of a CLI run after its first checkpoint, then the same command again: the run resumes and its
metrics equal an uninterrupted run's (CNN1 on 1,000 real MNIST images, CPU). The other resume
tests: test_leap_resume.py, test_monitor_resume.py, test_logging_cli.py (W&B keeps its run id), and the
fault suite (tests/reliability: kill -9 at several points, signals, damaged checkpoints)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import Cli
from trainfix.core.records import TIMING_COLUMNS


def _cli(run_dir: Path, data_dir: Path, epochs: int, strategy: list[str]) -> list[str]:
    return Cli.train(
        *strategy, f"paths.data_dir={data_dir}", f"hydra.run.dir={run_dir}",
        "trainer.accelerator=cpu", "trainer.enable_progress_bar=false", f"trainer.max_epochs={epochs}",
        "model=cnn1", "data.train_subset=1000", "data.test_subset=200",
        "data.batch_size=100", "seed=5",
    )  # fmt: skip


# A stateless strategy's kill -9 and resume (strategy=shuffle, killed at 3 points, against an
# uninterrupted run) is tests/reliability/test_faults.py::test_kill_9_at_several_points_resumes_to_identical_metrics.
STRATEGIES_TO_RESUME = {
    # DE's order and SPL's threshold live in the strategy state of the checkpoint.
    "spl_deepeutaxy": ["strategy=spl_deepeutaxy", "strategy.iter_count=1", "strategy.selection=text"],
}


@pytest.mark.slow  # two 4-epoch CLI runs and a resume
@pytest.mark.parametrize("strategy", sorted(STRATEGIES_TO_RESUME))
def test_kill_and_resume_gives_the_same_metrics(data_dir, tmp_path, strategy, cli, kill_after_checkpoint):
    """SIGKILL a CLI run after its first checkpoint; the re-invocation resumes and matches a clean run."""
    strategy = STRATEGIES_TO_RESUME[strategy]
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    cli.run(_cli(clean, data_dir, 4, strategy), check=True)

    kill_after_checkpoint(cli.start(_cli(killed, data_dir, 4, strategy)), killed)
    assert json.loads((killed / "run.json").read_text())["status"] == "running"
    assert len(pd.read_csv(killed / "metrics.csv")) < 4

    resumed = cli.run(_cli(killed, data_dir, 4, strategy))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stderr + resumed.stdout
    run = json.loads((killed / "run.json").read_text())
    assert run["status"] == "finished" and [a["outcome"] for a in run["attempts"]] == ["killed", "finished"]
    assert run["attempts"][1]["action"] == "resume" and run["attempts"][1]["resumed_from_epoch"] >= 1
    a = pd.read_csv(clean / "metrics.csv").drop(columns=list(TIMING_COLUMNS), errors="ignore")
    b = pd.read_csv(killed / "metrics.csv").drop(columns=list(TIMING_COLUMNS), errors="ignore")
    pd.testing.assert_frame_equal(a, b, check_exact=True)
