"""What to do with a run folder that may already hold a run: start, resume, or skip.

A run folder is named from the configuration (not a timestamp), so re-invoking the same command
finds it again. A finished run is skipped; an interrupted or failed one resumes from its last
epoch checkpoint; a folder that holds a run with a *different* configuration is never overwritten.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from trainfix.callbacks.checkpoint import last_checkpoint
from trainfix.runs.records import read_run

# Keys that may change between invocations of the same run without changing its results.
IGNORED_KEYS = ("paths", "logger", "hydra", "extras", "trainer.enable_progress_bar", "trainer.devices", "trainer.accelerator", "trainer.strategy", "trainer.num_nodes")


def run_name_from_overrides(override_dirname: str) -> str:
    """A folder name from Hydra's `key=value,...` overrides: unsafe characters made `_`, 'default' when empty.

    Registered as the `${trainfix_run_name:...}` resolver that conf/train.yaml uses for `run_name`.
    """
    name = re.sub(r"[^A-Za-z0-9_.,=+-]", "_", override_dirname)
    return name or "default"


if not OmegaConf.has_resolver("trainfix_run_name"):
    OmegaConf.register_new_resolver("trainfix_run_name", run_name_from_overrides)


class RunConflictError(RuntimeError):
    """The run folder holds a run made with another configuration."""


@dataclass(frozen=True)
class RunAction:
    kind: str  # "new" | "resume" | "skip"
    checkpoint: Path | None = None
    reason: str = ""


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: tree}


def config_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human-readable `key: old -> new` lines for every differing key not in IGNORED_KEYS."""
    flat_old, flat_new = _flatten(old), _flatten(new)
    ignored = lambda key: any(key == k or key.startswith(k + ".") for k in IGNORED_KEYS)  # noqa: E731
    keys = sorted(k for k in set(flat_old) | set(flat_new) if not ignored(k))
    return [f"{k}: {flat_old.get(k, '<absent>')!r} -> {flat_new.get(k, '<absent>')!r}" for k in keys if flat_old.get(k) != flat_new.get(k)]


def decide(run_dir: Path, config: dict[str, Any]) -> RunAction:
    """Decide what to do with `run_dir` for a run of `config` (resolved, plain dict)."""
    record = read_run(run_dir)
    if record is None:
        checkpoint = last_checkpoint(run_dir)
        if checkpoint is not None:
            raise RunConflictError(f"{run_dir} has a checkpoint but no run.json; move the folder away or delete it to start over")
        return RunAction("new")
    differences = config_differences(record.get("config", {}), config)
    if differences:
        raise RunConflictError(
            f"{run_dir} already holds a run with another configuration ({record.get('status')}); it is not overwritten.\n"
            "  Differences (saved -> requested):\n    " + "\n    ".join(differences) + "\n"
            "  Choose another folder with run_name=<name> (or task_name=<name>), or delete that folder to start over."
        )
    status = record.get("status")
    if status in ("finished", "diverged"):
        return RunAction("skip", reason=f"already {status}")
    checkpoint = last_checkpoint(run_dir)
    if checkpoint is None:
        return RunAction("new", reason=f"previous attempt ({status}) left no checkpoint: starting from epoch 0")
    return RunAction("resume", checkpoint, reason=f"previous attempt {status}: resuming from {checkpoint}")
