"""trainfix.runs.orphan: a multiprocessing child ends when its parent dies; a shell-started process is left alone.
The whole path (a killed joblib sweep, its worker's run interrupted and resumed) is in tests/reliability."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import process_running
from trainfix.runs.orphan import orphaned, stop_when_parent_dies


def test_a_process_started_from_a_shell_is_not_watched():
    assert stop_when_parent_dies() is False
    assert orphaned() is False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_a_child_that_ignores_sigterm_is_ended_after_the_grace_period(tmp_path):
    """The parent is killed with -9; its multiprocessing child ignores SIGTERM, so only the watcher's
    grace-period exit can end it, and it does."""
    script = textwrap.dedent(f"""
        import multiprocessing, os, signal, sys, time
        from pathlib import Path

        def child():
            from trainfix.runs.orphan import stop_when_parent_dies
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            watched = stop_when_parent_dies(poll_s=0.05, grace_s=1.0)
            Path({str(tmp_path / 'child')!r}).write_text(f"{{os.getpid()}} {{watched}}")
            time.sleep(120)

        if __name__ == "__main__":
            multiprocessing.get_context("spawn").Process(target=child).start()
            time.sleep(120)
    """)
    (tmp_path / "parent.py").write_text(script)  # a file: the spawned child imports `child` from it
    parent = subprocess.Popen(
        [sys.executable, str(tmp_path / "parent.py")], env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    )
    deadline = time.time() + 60
    while not (tmp_path / "child").exists() or not (tmp_path / "child").read_text():
        assert time.time() < deadline, "the child never started"
        time.sleep(0.05)
    pid, watched = (tmp_path / "child").read_text().split()
    assert watched == "True"
    parent.send_signal(signal.SIGKILL)
    parent.wait()

    assert process_running(pid), "the child outlives its parent at first"
    deadline = time.time() + 30
    while process_running(pid):
        assert time.time() < deadline, "the orphan still runs 30 s after its parent died"
        time.sleep(0.1)
