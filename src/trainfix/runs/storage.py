"""Faults of the output location: read-only, full, gone. Found before training where possible.

`probe_writable` writes and removes a probe file in the run folder before anything trains, so a
read-only or full location fails at once with what to do. A location that fills up (or vanishes)
mid-run makes the atomic writers fail before they replace anything (`core/records.py`), so the
previous records and checkpoint stay intact and the same command resumes once there is space;
`storage_problem` recognises such errors so the run ends with that message and its own exit status.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError

from trainfix.core.exit_status import EXIT_STORAGE

PROBE_BYTES = 64 << 10  # enough to find a read-only or full location, small enough to be free to write
# What a file system says when it fills up, turns read-only or goes away under a running job.
MID_RUN_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.ESTALE}
FIXES = {
    errno.ENOSPC: "free some space (or point paths.runs_dir / paths.multirun_dir elsewhere)",
    errno.EDQUOT: "free some of your quota (or point paths.runs_dir / paths.multirun_dir elsewhere)",
    errno.EROFS: (
        "the file system is read-only: point paths.runs_dir (paths.multirun_dir in sweeps) at a writable folder"
    ),
    errno.EACCES: (
        "no permission to write there: point paths.runs_dir (paths.multirun_dir in sweeps) at a writable folder"
    ),
    errno.EPERM: (
        "no permission to write there: point paths.runs_dir (paths.multirun_dir in sweeps) at a writable folder"
    ),
}


class StorageError(OSError):
    """The run folder cannot be written; the message names it, the cause and the fix."""


def _message(path: Path, error: OSError, when: str) -> str:
    fix = FIXES.get(error.errno or 0, "check that the location is mounted and writable")
    return f"cannot write {path} {when}: {os.strerror(error.errno) if error.errno else error}; {fix}"


def probe_writable(run_dir: Path) -> None:
    """Create `run_dir` and write/remove a 64 KiB probe in it; raise StorageError naming the problem."""
    run_dir = Path(run_dir)
    probe = run_dir / ".write-probe"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as handle:
            handle.write(b"\0" * PROBE_BYTES)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        raise StorageError(error.errno, _message(run_dir, error, "before training")) from None
    finally:
        try:
            probe.unlink(missing_ok=True)
        except OSError:
            pass


def storage_problem(error: BaseException, run_dir: Path) -> StorageError | None:
    """A StorageError for an error (or its causes) that came from the file system under the run, else None."""
    seen = error
    while seen is not None:
        if isinstance(seen, StorageError):
            return seen
        if isinstance(seen, OSError) and seen.errno in MID_RUN_ERRNOS:
            where = Path(seen.filename) if getattr(seen, "filename", None) else run_dir
            return StorageError(
                seen.errno,
                _message(where, seen, "during the run") + "; the previous records and checkpoint are intact: "
                "the same command resumes the run",
            )
        seen = seen.__cause__ or seen.__context__
    return None


class OutputProbe(Callback):
    """Hydra callback: probes the run (or sweep) folder before Hydra creates it and writes its own files
    there, so a read-only or full location ends with the message alone and EXIT_STORAGE, not with a
    traceback from Hydra's mkdir."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        # hydra.run.dir ends in the run's folder name, which reads Hydra's runtime config: not set yet when
        # this callback runs. Its parent (<paths.runs_dir>/<task_name>) is where the folder will be made.
        self._probe(config, "hydra.run.dir", parent=("paths.runs_dir", "task_name"))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._probe(config, "hydra.sweep.dir")

    @staticmethod
    def _probe(config: DictConfig, key: str, parent: tuple[str, str] | None = None) -> None:
        try:
            folder = Path(str(OmegaConf.select(config, key)))
        except InterpolationResolutionError:
            if parent is None:
                raise
            folder = Path(*(str(OmegaConf.select(config, part)) for part in parent))
        try:
            probe_writable(folder)
        except StorageError as error:
            sys.stderr.write(f"storage error: {error.strerror}\n")
            sys.exit(EXIT_STORAGE)
