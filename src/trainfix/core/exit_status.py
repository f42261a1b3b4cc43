"""Exit statuses of `python -m trainfix.train` (docs/testing.md, "The fault suite: what happens when...").

A script or scheduler can tell a user's mistake from a fault of the machine and from a failed run.
Success, a skipped (finished or running elsewhere) run and a run that diverged all exit 0: the
verdict is in run.json.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

EXIT_FAILED = 1  # training failed (an error while training); also a sweep in which any job failed
EXIT_CONFIG = 2  # a configuration mistake: bad value, unknown option or key, a folder holding another configuration
EXIT_DATA = 3  # dataset files missing, damaged or not the official ones
EXIT_STORAGE = 4  # the output location is read-only, full or gone


class JobsFailed(SystemExit):
    """A sweep whose jobs ran, some of them failing (`trainfix.runs.sweep.SweepRecord`): exit status 1. Under a
    launcher that runs the jobs in other processes (joblib) no task starts in the sweep's own process, so
    `run_hydra_cli` would otherwise read this status 1 as one of Hydra's configuration errors (exit 2)."""


def run_hydra_cli(main: Callable[[], Any], task_started: Callable[[], bool], config_status: int = EXIT_CONFIG) -> None:
    """Run a `@hydra.main` function as a command: Hydra's own configuration errors (unknown option or
    key, bad override syntax), which it reports with its generic status 1 before the task starts, exit
    with `config_status` like the task's own configuration errors (a sweep's `JobsFailed` stays 1)."""
    try:
        main()
    except SystemExit as exit_:
        if exit_.code == 1 and not task_started() and not isinstance(exit_, JobsFailed):
            sys.exit(config_status)
        raise
