"""tests/conftest.py's thread pinning: pytest, its xdist workers and the processes the tests start use the
OpenMP/MKL thread counts of os.environ (1 unless the caller's environment set another; MKL follows OpenMP),
so that 2 ranks or 2 workers on the 2-core CI machine do not oversubscribe it."""

from __future__ import annotations

import os
import sys

import torch


def test_pytest_and_its_children_use_the_pinned_thread_counts(cli):
    omp, mkl = os.environ["OMP_NUM_THREADS"], os.environ["MKL_NUM_THREADS"]
    assert torch.get_num_threads() <= min(int(omp), int(mkl))  # torch takes the smallest of these and the cores
    # A child started the way the tests start CLI runs (the `cli` fixture) reads the same counts.
    probe = (
        "import os, torch; print(os.environ['OMP_NUM_THREADS'], os.environ['MKL_NUM_THREADS'], torch.get_num_threads())"
    )
    child = cli.run([sys.executable, "-c", probe], timeout=300, check=True)
    assert child.stdout.split() == [omp, mkl, str(torch.get_num_threads())]
