"""trainfix.runs.allocator: glibc keeps freed buffers, so a loop that frees and reallocates batch-sized
buffers stops faulting their pages in again; a user's own MALLOC_* variable wins; off glibc nothing."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from trainfix.runs import allocator
from trainfix.runs.allocator import SETTINGS, keep_freed_memory

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
SRC = str(Path(__file__).resolve().parents[2] / "src")

# A training step in miniature: hold six 16 MiB buffers at once (a LeNet-5 conv activation at batch 1,000 is
# 18.8 MB), then free them all, 20 times; minor page faults of the loop, with and without keep_freed_memory().
# With glibc's defaults the freed heap top (96 MiB) exceeds the trim threshold and goes back to the kernel.
LOOP = """
import resource, sys
import numpy as np
if sys.argv[1] == "keep":
    from trainfix.runs.allocator import keep_freed_memory
    assert keep_freed_memory()
def step():
    held = [np.ones(4 << 20, dtype=np.float32) for _ in range(6)]
    return sum(float(a[::4096].sum()) for a in held)
step()  # warm-up: glibc's dynamic thresholds and numpy's own first allocations settle
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-c", LOOP, mode], env=env, capture_output=True, text=True, timeout=120, check=True)
    return int(done.stdout.strip())


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_freed_buffers_are_reused_instead_of_faulted_in_again() -> None:
    default, kept = _faults("default"), _faults("keep")
    # glibc's defaults: thousands of 4 KiB pages are faulted in again every step (61,659 in 20 steps here)
    assert default > 20 * 1000, default
    assert kept < default / 20, (default, kept)


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_a_variable_the_environment_sets_is_left_to_it(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    class FakeLibc:
        def mallopt(self, param, value):  # noqa: ANN001, ANN202
            calls.append((param.value, value.value))
            return 1

    monkeypatch.setattr(allocator, "_libc", lambda: FakeLibc())
    monkeypatch.setenv("MALLOC_TOP_PAD_", "0")
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    applied = keep_freed_memory()
    assert applied == {"MALLOC_MMAP_THRESHOLD_": 32 << 20, "MALLOC_TRIM_THRESHOLD_": 1 << 30}
    assert calls == [(-3, 32 << 20), (-1, 1 << 30)]  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD; M_TOP_PAD untouched


def test_a_refused_setting_is_not_reported_applied(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    class RefusingLibc:
        def mallopt(self, param, value):  # noqa: ANN001, ANN202
            return 0 if param.value == -3 else 1

    monkeypatch.setattr(allocator, "_libc", lambda: RefusingLibc())
    for variable in SETTINGS:
        monkeypatch.delenv(variable, raising=False)
    assert set(keep_freed_memory()) == {"MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"}
    assert "MALLOC_MMAP_THRESHOLD" in caplog.text


def test_nothing_off_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("", ""))
    assert allocator._libc() is None
    assert keep_freed_memory() == {}
