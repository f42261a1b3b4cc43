"""kill -9 of a CLI run after its first checkpoint, then the same configuration again: the run resumes and its
metrics equal an uninterrupted run's (CNN1, whose dropout draws from the resumed random stream, on 400 real
MNIST images in 4 batches, CPU). The other resume tests: test_leap_resume.py, test_monitor_resume.py,
test_logging_cli.py (W&B keeps its run id), and the fault suite (tests/reliability: kill -9 at several
points, signals, damaged checkpoints)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pandas as pd
import pytest
import torch

from tests.conftest import compose_train, in_background, kill_after_checkpoint
from trainfix.core.records import TIMING_COLUMNS
from trainfix.train import train


def _overrides(data_dir: Path, epochs: int, strategy: list[str]) -> list[str]:
    return [
        *strategy, f"paths.data_dir={data_dir}",
        "trainer.accelerator=cpu", "trainer.enable_progress_bar=false", f"trainer.max_epochs={epochs}",
        "model=cnn1", "data.train_subset=400", "data.test_subset=100",
        "data.batch_size=100", "seed=5",
    ]  # fmt: skip


# A stateless strategy's kill -9 and resume through the CLI (strategy=shuffle, killed at 3 points, against an
# uninterrupted run) is tests/reliability/test_faults.py::test_kill_9_at_several_points_resumes_to_identical_metrics.
STRATEGIES_TO_RESUME = {
    # DE's order and SPL's threshold live in the strategy state of the checkpoint.
    "spl_deepeutaxy": ["strategy=spl_deepeutaxy", "strategy.iter_count=1", "strategy.selection=text"],
}


@pytest.mark.parametrize("strategy", sorted(STRATEGIES_TO_RESUME))
def test_kill_and_resume_gives_the_same_metrics(data_dir, tmp_path, strategy, cli):
    """SIGKILL a CLI run after its first checkpoint; the resumed run matches a clean run. The killed process is
    the only subprocess (interpreter start-up is most of this test's cost): the clean run (while it trains) and
    the resume run in this process, with the same number of intra-op threads, so every number must be equal."""
    overrides = _overrides(data_dir, 4, STRATEGIES_TO_RESUME[strategy])
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    proc = cli.start(
        cli.train(*overrides, f"hydra.run.dir={killed}"), env={"OMP_NUM_THREADS": str(torch.get_num_threads())}
    )
    with in_background(kill_after_checkpoint, proc, killed):
        train(compose_train(overrides, clean))
    assert proc.returncode == -signal.SIGKILL
    assert json.loads((killed / "run.json").read_text())["status"] == "running"
    assert len(pd.read_csv(killed / "metrics.csv")) < 4

    _, objects = train(compose_train(overrides, killed))
    assert objects["action"].kind == "resume"
    run = json.loads((killed / "run.json").read_text())
    assert run["status"] == "finished" and [a["outcome"] for a in run["attempts"]] == ["killed", "finished"]
    assert run["attempts"][1]["action"] == "resume" and run["attempts"][1]["resumed_from_epoch"] >= 1
    a = pd.read_csv(clean / "metrics.csv").drop(columns=list(TIMING_COLUMNS), errors="ignore")
    b = pd.read_csv(killed / "metrics.csv").drop(columns=list(TIMING_COLUMNS), errors="ignore")
    pd.testing.assert_frame_equal(a, b, check_exact=True)
