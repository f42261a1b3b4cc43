"""What to do with a run folder that may already hold a run: start, resume, or skip.

A run folder is named from the run's identity (`runs/identity.py`), so re-invoking the same
configuration finds it again. A finished (or diverged) run is skipped; an interrupted, killed or failed
one resumes from its last good checkpoint; a folder that holds a run with a *different* configuration
is never overwritten. A checkpoint that cannot be loaded is moved aside (never deleted) and the run
resumes from the previous epoch's checkpoint, or starts over when none is usable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from trainfix.core.records import CHECKPOINT_DIR, LAST_CHECKPOINT, PREVIOUS_CHECKPOINT, read_run
from trainfix.runs.identity import flatten, is_identity_key, upgrade_compatible


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
    """

    kind: str
    checkpoint: Path | None = None
    reason: str = ""
    previous_outcome: str | None = None
    problems: tuple[str, ...] = field(default_factory=tuple)


def config_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human-readable `key: old -> new` lines for every differing identity key."""
    flat_old, flat_new = flatten(old), flatten(new)
    keys = sorted(k for k in set(flat_old) | set(flat_new) if is_identity_key(k))
    return [
        f"{k}: {flat_old.get(k, '<absent>')!r} -> {flat_new.get(k, '<absent>')!r}"
        for k in keys
        if flat_old.get(k) != flat_new.get(k)
    ]


def checkpoint_candidates(run_dir: Path) -> list[Path]:
    """The checkpoints a resume may start from, newest first, that exist."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    return [p for p in (folder / LAST_CHECKPOINT, folder / PREVIOUS_CHECKPOINT) if p.exists()]


def load_problem(path: Path) -> str | None:
    """Why `path` cannot start a resume (None when it loads and holds what a resume needs)."""
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


def decide(run_dir: Path, config: dict[str, Any], overridden: list[str] | tuple[str, ...] = ()) -> RunAction:
    """Decide what to do with `run_dir` for a run of `config` (resolved, plain dict). Call it holding
    the run's lock (`runs/lock.py`): a run found `running` then is one whose process died."""
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
    if status in ("finished", "diverged"):
        return RunAction("skip", reason=f"already {status}")
    # The lock is ours, so nobody runs it: a run still marked `running` lost its process (kill -9, crash).
    outcome = "killed" if status == "running" else status
    checkpoint, problems = usable_checkpoint(run_dir)
    if checkpoint is None:
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
