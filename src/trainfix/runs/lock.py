"""One writer per run folder: an exclusive lock held for the whole run.

The lock is `fcntl.flock` on `<run>/.lock` (another name locks something else in the folder, e.g. the
Apricot predictions that the passes of one multirun share: one computes them, the others wait), so the
kernel releases it when the holder dies (kill -9 included) and a dead process never blocks a run. The
file records who holds it (pid, host, start time) so a second invocation can say where the run is going
on; a clean release empties it, so a holder still named when the lock is next taken died holding it (its
lock was stale and is taken over, and the new attempt records that the previous one was killed).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainfix.core.records import now_iso

LOCK_FILE = ".lock"


class RunLockedError(RuntimeError):
    """Another live process holds the run folder."""

    def __init__(self, run_dir: Path, holder: dict[str, Any]) -> None:
        self.run_dir = Path(run_dir)
        self.holder = holder
        where = f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')} since {holder.get('since', '?')}"
        super().__init__(f"{run_dir} is being trained by another process ({where}); not starting a second copy")


@dataclass
class RunLock:
    """Holds the lock of one run folder; release() (or the process's death) frees it.

    `stale_holder` is what the lock file said when it was taken: a holder that died without releasing
    (killed, crashed, machine lost), or {} after a clean release.
    """

    path: Path
    handle: Any
    stale_holder: dict[str, Any]

    def release(self) -> None:
        if self.handle is not None and not self.handle.closed:
            self.handle.seek(0)
            self.handle.truncate()  # a clean release leaves no holder behind
            self.handle.flush()
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_holder(run_dir: Path, name: str = LOCK_FILE) -> dict[str, Any]:
    """What the lock file says about its holder ({} when none or unreadable)."""
    try:
        return json.loads((Path(run_dir) / name).read_text() or "{}")
    except (OSError, ValueError):
        return {}


def acquire(
    run_dir: Path, wait: bool = False, timeout_s: float | None = None, poll_s: float = 2.0, name: str = LOCK_FILE
) -> RunLock:
    """Take the run folder's lock, or raise RunLockedError naming the holder.

    Args:
        run_dir: the run folder (created if missing).
        wait: wait for the holder to finish instead of raising at once.
        timeout_s: with `wait`, give up after this many seconds (None: wait as long as it takes, in the
            kernel: the lock is taken the moment the holder releases it or dies).
        poll_s: seconds between attempts while waiting with a timeout.
        name: the lock file in `run_dir` (default `.lock`, the run's own).
    """
    run_dir = Path(run_dir)
    path = run_dir / name
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    blocking = wait and deadline is None
    while True:
        run_dir.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")  # noqa: SIM115 (held open for the whole run)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            handle.close()
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            if wait and (deadline is None or time.monotonic() < deadline):
                time.sleep(poll_s)
                continue
            raise RunLockedError(run_dir, read_holder(run_dir, name)) from None
        if not _still_there(handle, path):  # removed while we waited (an unstarted folder discarded): lock anew
            handle.close()
            continue
        stale = read_holder(run_dir, name)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": now_iso()}) + "\n")
        handle.flush()
        return RunLock(path, handle, stale)


def _still_there(handle: Any, path: Path) -> bool:
    """Whether the file `handle` locked is still the one at `path` (`discard_unstarted` removes an unstarted folder's
    lock file holding it; a process that waited on that file must lock the folder's new one instead)."""
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except FileNotFoundError:
        return False
