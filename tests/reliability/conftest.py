"""The fault suite: each test is one fault or bad input, tried the way a user meets it (a CLI run).

Each case declares what it expects (`fault.expect(...)`): the run *recovered identically* (its
metrics.csv equals an uninterrupted run's, timing columns aside) or the input was *refused with a
clear message* (distinct exit status, the message names the file or key, no traceback). At the end
pytest prints the tally that docs/testing.md's "What happens when..." table quotes; a case that fails is
counted as *lost* (target 0).
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import Cli
from trainfix.core.records import TIMING_COLUMNS


class Fault:
    def __init__(self, item: pytest.Item) -> None:
        self.item = item

    def expect(self, outcome: str) -> None:
        assert outcome in ("recovered identically", "refused with a clear message")
        # A user property travels with the test's report from an xdist worker to the process that prints the tally.
        self.item.user_properties.append(("fault_outcome", outcome))


@pytest.fixture
def fault(request) -> Fault:
    return Fault(request.node)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    reports = [
        r
        for key in ("passed", "failed", "error")
        for r in terminalreporter.stats.get(key, [])
        if getattr(r, "when", "call") == "call" or key == "error"
    ]
    outcomes = {r.nodeid: dict(r.user_properties).get("fault_outcome") for r in reports}
    ours = [r for r in reports if outcomes[r.nodeid] or "tests/reliability" in r.nodeid]
    if not ours:
        return
    tally = Counter((outcomes[r.nodeid] or "?") if r.passed else "lost" for r in ours)
    terminalreporter.write_line(
        f"fault suite: {len(ours)} cases tried, {tally['recovered identically']} recovered identically, "
        f"{tally['refused with a clear message']} refused with a clear message, {tally['lost']} lost"
    )


# ----------------------------------------------------------------------------- running the CLI
def cli(run_dir: Path, data_dir: Path, *extra: str, epochs: int = 4) -> list[str]:
    """The CLI command of the suite's run: LeNet-5, reshuffled batches, 1,000 real MNIST images."""
    return [
        sys.executable,
        "-m",
        "trainfix.train",
        "strategy=shuffle",
        "model=lenet5",
        f"paths.data_dir={data_dir}",
        f"hydra.run.dir={run_dir}",
        "trainer.accelerator=cpu",
        "trainer.enable_progress_bar=false",
        f"trainer.max_epochs={epochs}",
        "data.train_subset=1000",
        "data.test_subset=200",
        "data.batch_size=50",
        "seed=5",
        *extra,
    ]


CLI = Cli()  # the suite's one way to run the CLI (tests/conftest.py): thread limits, W&B offline, short Hydra errors


def run_cli(args: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    return CLI.run(args, timeout=timeout)


def start_cli(args: list[str]) -> subprocess.Popen:
    """Start a CLI run, its output piped (read it with communicate())."""
    return CLI.start(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def metrics_without_timing(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(Path(run_dir) / "metrics.csv").drop(columns=list(TIMING_COLUMNS), errors="ignore")


@pytest.fixture(scope="session")
def reference(tmp_path_factory, data_dir) -> Path:
    """An uninterrupted run of the suite's configuration, to compare every recovered run with."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    done = run_cli(cli(run_dir, data_dir))
    assert done.returncode == 0, done.stderr[-3000:]
    return run_dir
