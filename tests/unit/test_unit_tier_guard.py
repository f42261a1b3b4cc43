"""tests/unit/conftest.py's guard: in the unit tier, every way to start a process or a training run fails
with a message that names the tier and where the test belongs; a forward pass and a few optimizer steps
on a tiny tensor still work."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import torch.multiprocessing as torch_mp

from tests.unit.conftest import GUARD, UnitTierViolation

pytest_plugins = ["pytester"]
CONFTEST = Path(__file__).with_name("conftest.py")


def _nothing() -> None:
    pass


@pytest.mark.parametrize(
    "start",
    [
        lambda: subprocess.run([sys.executable, "-c", "pass"], check=True),
        lambda: subprocess.Popen(["make", "--version"]),
        lambda: subprocess.check_output(["true"]),
        lambda: os.popen("true").read(),
        lambda: os.system("true"),
        lambda: os.fork(),
        lambda: multiprocessing.get_context("fork").Process(target=_nothing).start(),
        lambda: multiprocessing.get_context("spawn").Process(target=_nothing).start(),
        lambda: torch_mp.start_processes(_nothing, nprocs=2, start_method="fork"),
    ],
    ids=[
        "subprocess.run",
        "Popen(make)",
        "check_output",
        "os.popen",
        "os.system",
        "os.fork",
        "mp-fork",
        "mp-spawn",
        "torch.mp",
    ],
)
def test_starting_a_process_fails_in_the_unit_tier(start):
    with pytest.raises(UnitTierViolation, match=r"not allowed in the unit tier; move the test to tests/integration"):
        start()


def test_a_training_run_fails_in_the_unit_tier(tmp_path):
    class Tiny(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, batch_idx):
            return self.layer(batch).sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    trainer = pl.Trainer(
        max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False, default_root_dir=tmp_path
    )
    with pytest.raises(UnitTierViolation, match=r"a training run \(Trainer.fit\) is not allowed in the unit tier"):
        trainer.fit(Tiny(), train_dataloaders=torch.utils.data.DataLoader(torch.ones(4, 2)))


@pytest.fixture(scope="module")
def started_in_a_module_fixture():
    try:
        subprocess.run(["true"], check=True)
    except UnitTierViolation as refused:
        return refused
    return None


def test_a_module_scoped_fixture_cannot_start_a_process_either(started_in_a_module_fixture):
    assert isinstance(started_in_a_module_fixture, UnitTierViolation)


def test_a_few_steps_on_a_tiny_tensor_are_fine():
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    losses = []
    for _ in range(3):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]


def test_a_unit_test_that_starts_a_process_fails_and_the_same_test_elsewhere_passes(pytester: pytest.Pytester, request):
    """One body in unit/ (beside a copy of tests/unit/conftest.py) and in integration/, run by pytest: the unit
    copy fails naming the tier, the other passes; the guard is the folder's conftest, nothing the test does."""
    request.node.stash[GUARD].undo()  # lift this test's own guard: the inner session must meet only the copy's
    body = "import subprocess\n\n\ndef test_starts_a_child():\n    subprocess.run(['true'], check=True)\n"
    pytester.makepyfile(
        **{"unit/conftest": CONFTEST.read_text(), "unit/test_child": body, "integration/test_child": body}
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:xdist", "--import-mode=importlib")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*UnitTierViolation: tests/unit: starting a subprocess is not allowed in the unit tier*",
            "FAILED unit/test_child.py::test_starts_a_child*",
        ]
    )


def test_a_failure_in_a_background_thread_fails_the_test():
    # tests.conftest.in_background, the resume tests' kill: a pytest.fail in the thread reaches the test.
    from tests.conftest import in_background

    with pytest.raises(pytest.fail.Exception, match="the run ended before its checkpoint"):
        with in_background(pytest.fail, "the run ended before its checkpoint"):
            pass
    done = []
    with in_background(done.append, 1):
        pass
    assert done == [1]
