"""trainfix.core.allocator in a fresh process: glibc keeps freed buffers, so a loop that frees and reallocates
batch-sized buffers stops faulting their pages in again. (The settings applied, a user's own MALLOC_* variable,
off glibc: tests/unit/test_allocator.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_allocator import GLIBC
from trainfix.core.allocator import SETTINGS

SRC = str(Path(__file__).resolve().parents[2] / "src")

# A training step in miniature: hold six 16 MiB buffers at once (a LeNet-5 conv activation at batch 1,000 is
# 18.8 MB), then free them all, 20 times; minor page faults of the loop, with and without keep_freed_memory().
# With glibc's defaults the freed heap top (96 MiB) exceeds the trim threshold and goes back to the kernel.
LOOP = """
import resource, sys
import numpy as np
if sys.argv[1] == "keep":
    from trainfix.core.allocator import keep_freed_memory
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
    done = subprocess.run(
        [sys.executable, "-c", LOOP, mode], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return int(done.stdout.strip())


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_freed_buffers_are_reused_instead_of_faulted_in_again() -> None:
    default, kept = _faults("default"), _faults("keep")
    # glibc's defaults: thousands of 4 KiB pages are faulted in again every step (61,659 in 20 steps here)
    assert default > 20 * 1000, default
    assert kept < default / 20, (default, kept)
