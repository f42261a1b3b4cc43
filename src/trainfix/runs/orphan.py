"""A launcher's worker stops when the process that launched it dies.

Hydra's joblib launcher runs each job of a sweep in a loky worker process. Killed with `kill -9` (or
lost to a crash), the sweep's parent process cannot tell its workers to stop, and a loky worker in the
middle of a job does not look at its parent until the job is done: an orphan kept training at full CPU
for hours, competing with the sweep the user started again. `stop_when_parent_dies()` starts a daemon
thread in such a worker that watches its parent process id; when the worker is re-parented (its
parent died) it sends itself SIGTERM, which every trainfix entry point handles: a training run stops
after the current step as `interrupted`, with its last checkpoint, and the next invocation of the sweep
resumes it; an Apricot pass resumes from its last completed batch. Once the entry point has written its
records it calls `exit_if_orphaned()`, which ends the worker (a loky worker would otherwise wait for work
from a parent that is gone); a worker that has not got there `grace_s` after the signal is ended anyway.

Only a process started by `multiprocessing` (loky's workers, `ddp_spawn`'s ranks) is watched: a run
started from a shell is not, so `nohup python -m trainfix.train ...` outlives its terminal as before.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import time

log = logging.getLogger(__name__)

ORPHAN_EXIT = 128 + signal.SIGTERM  # the exit status of a process ended by SIGTERM
_watching: int | None = None  # the pid whose watcher thread runs in this process (one per process)
_orphaned = threading.Event()  # set once the parent is found dead


def stop_when_parent_dies(poll_s: float = 2.0, grace_s: float = 600.0) -> bool:
    """In a process started by `multiprocessing`, start (once per process) a daemon thread that sends
    this process SIGTERM when its parent process dies, and ends it `grace_s` later if it still runs.
    Returns whether this process is watched."""
    global _watching
    if multiprocessing.parent_process() is None:
        return False
    if _watching == os.getpid():
        return True
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        log.warning(
            "the process that launched this one (pid %d) died: stopping (SIGTERM to pid %d)", parent, os.getpid()
        )
        _orphaned.set()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace_s)
        log.error("still running %.0f s after its launcher died: exiting", grace_s)
        _exit()

    threading.Thread(target=watch, name="trainfix-parent-watch", daemon=True).start()
    _watching = os.getpid()
    return True


def orphaned() -> bool:
    """Whether this process's launcher has died (see `stop_when_parent_dies`)."""
    return _orphaned.is_set()


def exit_if_orphaned() -> None:
    """End this process (status 143, as SIGTERM's) if its launcher has died; call it once the records are written."""
    if _orphaned.is_set():
        log.warning("records written; exiting (the launcher is gone)")
        _exit()


def _exit() -> None:
    logging.shutdown()  # flushes the log files
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(ORPHAN_EXIT)
