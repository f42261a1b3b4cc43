"""What to do with a run folder that may already hold a run: start, resume, or skip.

A run folder is named from the run's identity (`runs/identity.py`), so re-invoking the same
configuration finds it again. A finished (or diverged) run is skipped; an interrupted, killed or failed
one resumes from its last good checkpoint; a folder that holds a run with a *different* configuration
is never overwritten. A checkpoint that cannot be loaded is moved aside (never deleted) and the run
resumes from the previous epoch's checkpoint, or starts over when none is usable.

`rerun=true` runs a finished (or diverged) run again in the same folder: its records and checkpoints move to
`<run>/previous/<n>/` first (nothing is deleted), so tables read the new run and the old one stays at hand.
Hydra's files (`.hydra/`: config.yaml, hydra.yaml, overrides.yaml) are those of the invocation that started the
run: a later invocation of the folder (a skip, a resume, a rerun) writes its own into `.hydra/invocations/<UTC
time>-<pid>/` (`hydra_files_dir`). One that trains the run from epoch 0 makes its own the run's: a rerun (the old
ones move with the old records), or a start over after an attempt that left no checkpoint (`adopt_invocation`).
A single run refused before it started (a config or data error) leaves no folder behind (`discard_unstarted`):
only what that invocation put there is removed, holding the run's lock, so no other run's file is ever lost.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainfix.core.records import (
    CHECKPOINT_DIR,
    FINISHED,
    LAST_CHECKPOINT,
    PREVIOUS_CHECKPOINT,
    RUN_FILE,
    read_run,
)
from trainfix.runs.identity import identity_items, upgrade_compatible
from trainfix.runs.lock import LOCK_FILE, RunLockedError, acquire


class RunConflictError(RuntimeError):
    """The run folder holds a run made with another configuration."""


@dataclass(frozen=True)
class RunAction:
    """What train() does with a run folder.

    kind: "new" | "resume" | "skip".
    checkpoint: the checkpoint a resume starts from.
    reason: one line for the log.
    previous_outcome: how the previous attempt ended ("killed", "interrupted", "failed", ...), if any.
    problems: checkpoints that could not be loaded, and where they were moved.
    archived: where rerun=true moved the finished run's records (`restore_previous` puts them back when the
        new attempt cannot even be built).
    """

    kind: str
    checkpoint: Path | None = None
    reason: str = ""
    previous_outcome: str | None = None
    problems: tuple[str, ...] = field(default_factory=tuple)
    archived: Path | None = None


def config_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human-readable `key: old -> new` lines for every differing identity key (`identity_items`)."""
    flat_old, flat_new = identity_items(old), identity_items(new)
    return [
        f"{k}: {flat_old.get(k, '<absent>')!r} -> {flat_new.get(k, '<absent>')!r}"
        for k in sorted(set(flat_old) | set(flat_new))
        if flat_old.get(k) != flat_new.get(k)
    ]


def checkpoint_candidates(run_dir: Path) -> list[Path]:
    """The checkpoints a resume may start from, newest first, that exist."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    return [p for p in (folder / LAST_CHECKPOINT, folder / PREVIOUS_CHECKPOINT) if p.exists()]


def load_problem(path: Path) -> str | None:
    """Why `path` cannot start a resume (None when it loads and holds what a resume needs)."""
    import torch  # here: the command line answers before torch is imported (trainfix.cli)

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # torch raises several types for damaged files
        return f"{type(error).__name__}: {error}"
    missing = [key for key in ("state_dict", "epoch", "loops", "trainfix") if key not in checkpoint]
    return f"missing {missing}" if missing else None


def usable_checkpoint(run_dir: Path) -> tuple[Path | None, list[str]]:
    """The newest checkpoint that loads; damaged ones are renamed `<name>.damaged-<time>` (kept for
    inspection) and described in the returned problems."""
    problems = []
    for path in checkpoint_candidates(run_dir):
        problem = load_problem(path)
        if problem is None:
            return path, problems
        aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
        path.replace(aside)
        problems.append(f"{path} could not be loaded ({problem[:300]}); moved to {aside.name}")
    return None, problems


PREVIOUS_DIR = "previous"  # <run>/previous/<n>/: the records of runs that rerun=true replaced
HYDRA_DIR = ".hydra"
INVOCATIONS = "invocations"  # <run>/.hydra/invocations/<UTC time>-<pid>/: Hydra's files of each later invocation
STAMP = "%Y%m%dT%H%M%SZ"  # the UTC time of an invocation folder's name
# What a run folder holds before its run starts, besides Hydra's `.hydra/` and the job's log: the lock, the probe.
UNSTARTED = {LOCK_FILE, ".write-probe"}
HYDRA_FILES = {"config.yaml", "hydra.yaml", "overrides.yaml"}
RERUN_HINT = "rerun=true runs it again (its records move to <run>/previous/<n>/)"


def skip_message(run_dir: Path, reason: str) -> str:
    """The line a skipped run logs: why, and how to run it again."""
    again = f"; {RERUN_HINT}" if reason.startswith("already") else ""
    return f"Skipping {run_dir}: {reason}{again}"


def hydra_files_dir(output_dir: str) -> str:
    """`hydra.output_subdir` of a run (conf/hydra/default.yaml): `.hydra` while the folder holds no run.json, else
    `.hydra/invocations/<UTC time>-<pid>`, so that no later invocation overwrites the files of the one that
    started the run (Hydra writes them before the run's lock is taken, also when the run is then skipped)."""
    if not (Path(output_dir) / RUN_FILE).exists():
        return HYDRA_DIR
    return f"{HYDRA_DIR}/{INVOCATIONS}/{invocation_name()}"


def invocation_name() -> str:
    """`<UTC time>-<pid>`: the folder of this invocation's Hydra files under `.hydra/invocations/`."""
    return f"{time.strftime(STAMP, time.gmtime())}-{os.getpid()}"


def own_invocation(run_dir: Path) -> Path | None:
    """The newest `.hydra/invocations/` folder this process wrote in `run_dir` (`hydra_files_dir`), if any."""
    folders = sorted((Path(run_dir) / HYDRA_DIR / INVOCATIONS).glob(f"*-{os.getpid()}"))
    return folders[-1] if folders else None


def adopt_invocation(run_dir: Path) -> None:
    """Make this process's Hydra files (`own_invocation`) the run's `.hydra/` files, for a run that starts over from
    epoch 0 in a folder whose earlier attempt left no checkpoint (e.g. refused for its data): those of the earlier
    invocation move to `.hydra/invocations/<their UTC time>-earlier/`. Nothing when this process wrote none."""
    own = own_invocation(run_dir)
    if own is None:
        return
    hydra = Path(run_dir) / HYDRA_DIR
    earlier = sorted(p for p in hydra.iterdir() if p.name in HYDRA_FILES and p.is_file())
    if earlier:
        stamp = time.strftime(STAMP, time.gmtime(max(p.stat().st_mtime for p in earlier)))
        kept = hydra / INVOCATIONS / f"{stamp}-earlier"
        while kept.exists():
            kept = kept.with_name(kept.name + "+")
        kept.mkdir(parents=True)
        for path in earlier:
            path.replace(kept / path.name)
    for path in sorted(own.iterdir()):
        path.replace(hydra / path.name)
    own.rmdir()


def archive_previous(run_dir: Path) -> Path:
    """Move everything of `run_dir` but its lock, this process's log and earlier archives into
    `run_dir/previous/<n>/` (n = 1, 2, ...); returns that folder. Nothing is deleted. Hydra's files go too when
    this invocation wrote its own (`own_invocation`): those become the run's `.hydra/`."""
    run_dir = Path(run_dir)
    parent = run_dir / PREVIOUS_DIR
    number = 1 + max((int(p.name) for p in parent.glob("*") if p.name.isdigit()), default=0)
    target = parent / str(number)
    target.mkdir(parents=True)
    own = own_invocation(run_dir)
    if own is not None:
        staged = own.replace(run_dir / f"{HYDRA_DIR}.{own.name}")
        (run_dir / HYDRA_DIR).replace(target / HYDRA_DIR)
        staged.replace(run_dir / HYDRA_DIR)
    for path in sorted(run_dir.iterdir()):
        if path.name in (PREVIOUS_DIR, ".lock", ".write-probe", HYDRA_DIR) or path.suffix == ".log":
            continue
        path.replace(target / path.name)
    return target


def restore_previous(run_dir: Path, archived: Path) -> None:
    """Undo `archive_previous`: the archived records go back into `run_dir` (replacing what the failed attempt
    wrote there; its Hydra files return to `.hydra/invocations/`) and the empty archive folder is removed, so a
    rerun that failed before training leaves the finished run as it was."""
    run_dir, archived = Path(run_dir), Path(archived)
    if (archived / HYDRA_DIR).is_dir() and (run_dir / HYDRA_DIR).is_dir():
        name = invocation_name()
        staged = (run_dir / HYDRA_DIR).replace(run_dir / f"{HYDRA_DIR}.{name}")
        (archived / HYDRA_DIR).replace(run_dir / HYDRA_DIR)
        (run_dir / HYDRA_DIR / INVOCATIONS).mkdir(exist_ok=True)
        staged.replace(run_dir / HYDRA_DIR / INVOCATIONS / name)
    for path in sorted(archived.iterdir()):
        target = Path(run_dir) / path.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        path.replace(target)
    Path(archived).rmdir()


def discard_unstarted(run_dir: Path, logs: Iterable[str] | None = None) -> bool:
    """Remove `run_dir` when it holds nothing but what this invocation put there before a run started: Hydra's
    `.hydra/` copy of the configuration, this process's log (`logs`: file names; default: the files the root
    logger writes in `run_dir`), the lock and the storage probe. Done holding the run's lock: a folder whose lock
    another process holds (its run) is left alone, and a run.json, a checkpoint, another log or any other file keeps
    the folder. Returns whether it was removed (a single run refused for its configuration or data leaves none)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return False
    own_logs = set(own_log_files(run_dir) if logs is None else logs)
    try:
        lock = acquire(run_dir)
    except RunLockedError:
        return False
    with lock:
        entries = list(run_dir.iterdir())
        if not all(_put_there_before_start(path, own_logs) for path in entries):
            return False
        for path in entries:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()  # the lock file too: a process waiting on it locks the folder's new one (runs/lock.py)
        run_dir.rmdir()
    return True


def own_log_files(run_dir: Path) -> list[str]:
    """The names of the files in `run_dir` that this process's root logger writes (Hydra's `<job>.log`)."""
    folder = Path(run_dir).resolve()
    return [
        Path(handler.baseFilename).name
        for handler in logging.getLogger().handlers
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename).parent.resolve() == folder
    ]


def _put_there_before_start(path: Path, own_logs: set[str]) -> bool:
    if path.name == ".hydra":
        return path.is_dir() and all(p.name in HYDRA_FILES for p in path.iterdir())
    if path.name in own_logs:
        return path.is_file()
    return path.name in UNSTARTED and path.is_file()


def decide(
    run_dir: Path, config: dict[str, Any], overridden: list[str] | tuple[str, ...] = (), rerun: bool = False
) -> RunAction:
    """Decide what to do with `run_dir` for a run of `config` (resolved, plain dict). Call it holding
    the run's lock (`runs/lock.py`): a run found `running` then is one whose process died. With `rerun`, a
    finished or diverged run is moved to `previous/<n>/` and started again."""
    record = read_run(run_dir)
    if record is None:
        if checkpoint_candidates(run_dir):
            raise RunConflictError(
                f"{run_dir} has a checkpoint but no run.json; move the folder away or delete it to start over"
            )
        return RunAction("new")
    saved = record.get("config", {})
    differences = config_differences(saved, config)
    if differences and not upgrade_compatible(saved, config, overridden):
        raise RunConflictError(
            f"{run_dir} already holds a run with another configuration ({record.get('status')}); "
            "it is not overwritten.\n"
            "  Differences (saved -> requested):\n    " + "\n    ".join(differences) + "\n"
            "  Choose another folder with run_name=<name> (or task_name=<name>), or delete that folder to start over."
        )
    status = record.get("status")
    if status in (FINISHED, "diverged"):
        if not rerun:
            return RunAction("skip", reason=f"already {status}")
        moved = archive_previous(run_dir)
        return RunAction(
            "new",
            reason=f"rerun=true: the {status} run moved to {moved}; starting from epoch 0",
            previous_outcome=status,
            archived=moved,
        )
    # The lock is ours, so nobody runs it: a run still marked `running` lost its process (kill -9, crash).
    outcome = "killed" if status == "running" else status
    checkpoint, problems = usable_checkpoint(run_dir)
    if checkpoint is None:
        adopt_invocation(run_dir)  # this invocation trains the run from its first epoch: its Hydra files are the run's
        note = "; ".join(problems) if problems else "it left no checkpoint"
        return RunAction(
            "new",
            reason=f"previous attempt {outcome}; {note}: starting from epoch 0",
            previous_outcome=outcome,
            problems=tuple(problems),
        )
    return RunAction(
        "resume",
        checkpoint,
        reason=f"previous attempt {outcome}: resuming from {checkpoint}",
        previous_outcome=outcome,
        problems=tuple(problems),
    )


# `${trainfix_hydra_files:...}` in conf/hydra/default.yaml, registered by trainfix.training.compose.register_resolvers.
RESOLVERS = {"trainfix_hydra_files": hydra_files_dir}
