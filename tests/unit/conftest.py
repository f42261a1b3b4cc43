"""The unit tier holds what its name says: no training run, no subprocess, no `make`.

Hooks around each test's setup, call and teardown (so fixtures of any scope too) make every way to start a
process (`subprocess`, `os.fork`/`posix_spawn`/`system`, a `multiprocessing` or `torch.multiprocessing`
process, joblib's loky workers) and a Lightning training run (`Trainer.fit`) raise `UnitTierViolation` in
tests/unit. A model's forward pass or a few optimizer steps on a tiny tensor are fine. A test that needs
more belongs to tests/integration (in-process training on real data) or tests/system (the CLI, `make`,
sweeps, launchers, the notebook). tests/unit/test_unit_tier_guard.py proves each door is shut.
"""

from __future__ import annotations

import contextlib
import multiprocessing.process
import os
import platform
import subprocess
from collections.abc import Iterator

import pytest
import pytorch_lightning as pl

# Importing mlflow asks platform.platform(), which on Linux may run `uname -p` in a subprocess the first time; the
# answer is cached, so ask once here, outside any test (a library's probe of the OS is not the test starting a process).
platform.platform()

MOVE = (
    "move the test to tests/integration (in-process training) or tests/system (CLI, make, processes); docs/testing.md"
)


class UnitTierViolation(RuntimeError):
    """A test under tests/unit started a process or a training run."""


def _refuse(what: str):
    def refused(*args, **kwargs):
        raise UnitTierViolation(f"tests/unit: {what} is not allowed in the unit tier; {MOVE}")

    return refused


@contextlib.contextmanager
def guarded() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        # Popen._execute_child is where every subprocess.run/call/check_output/Popen/os.popen starts its child,
        # whatever name the caller imported; BaseProcess.start is every multiprocessing context's Process
        # (fork, spawn, forkserver; torch.multiprocessing and joblib's loky processes subclass it).
        patch.setattr(subprocess.Popen, "_execute_child", _refuse("starting a subprocess"))
        patch.setattr(multiprocessing.process.BaseProcess, "start", _refuse("starting a multiprocessing process"))
        for name in ("fork", "forkpty", "system", "posix_spawn", "posix_spawnp"):
            if hasattr(os, name):
                patch.setattr(os, name, _refuse(f"os.{name}"))
        patch.setattr(pl.Trainer, "fit", _refuse("a training run (Trainer.fit)"))
        yield patch


GUARD = pytest.StashKey[pytest.MonkeyPatch]()


def _guard_phase(item: pytest.Item):
    # Each phase of each test here, its fixtures included (a module- or session-scoped fixture is set up in the
    # setup phase of the first test that needs it, before any function-scoped fixture could patch anything).
    with guarded() as patch:
        item.stash[GUARD] = patch
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    return (yield from _guard_phase(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    return (yield from _guard_phase(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    return (yield from _guard_phase(item))
