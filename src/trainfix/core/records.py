"""Run folder records: `run.json` (what ran, where, how it ended) and `metrics.csv` (one row per epoch).

Every write is atomic (temporary file in the same folder, then `os.replace`), so a killed run never
leaves a half-written record. Columns of metrics.csv are fixed (METRIC_COLUMNS first, then any
strategy-specific ones); the TIMING_COLUMNS are the only ones that differ between identical runs.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: the command line answers before pandas loads (trainfix.cli)
    import pandas as pd

RUN_FILE = "run.json"
METRICS_FILE = "metrics.csv"
CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
PREVIOUS_CHECKPOINT = "previous.ckpt"  # the epoch before last.ckpt: a resume falls back on it

FINISHED = "finished"  # the status of a run that trained to its end (every layer above compares with this)
STATUSES = ("running", FINISHED, "failed", "diverged", "interrupted")

METRIC_COLUMNS = [
    "epoch",
    "global_step",
    "train_loss",
    "train_acc",
    "test_loss",
    "test_acc",
    "lr",
    "grad_norm_mean",
    "grad_norm_last",
    "epoch_time_s",
    "samples_seen",
]
TIMING_COLUMNS = ("epoch_time_s", "eval_time_s", "de_refresh_time_s", "full_gradient_time_s")
METRICS_FLOAT_FORMAT = "%.8g"  # metrics.csv's precision: significant digits of float32 metrics


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` so readers see either the old or the new file, never a partial one."""
    atomic_write_bytes(path, text.encode())


def _umask() -> int:
    mask = os.umask(0)  # the only portable way to read it: set and restore at once
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` through a temporary file in the same folder, then `os.replace`. The file gets the
    permissions an ordinary write would (0666 less the umask): mkstemp's 0600 would hide shared records
    from the rest of a team."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read_run(run_dir: Path) -> dict[str, Any] | None:
    """The run.json of `run_dir`, or None when there is none."""
    path = Path(run_dir) / RUN_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text())


def write_run(run_dir: Path, record: dict[str, Any]) -> None:
    if record.get("status") not in STATUSES:
        raise ValueError(f"run status {record.get('status')!r} is not one of {STATUSES}")
    atomic_write_text(Path(run_dir) / RUN_FILE, json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")


def read_metrics(run_dir: Path) -> pd.DataFrame:
    import pandas as pd

    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return pd.DataFrame(columns=METRIC_COLUMNS)
    return pd.read_csv(path)


def write_metrics(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    import pandas as pd

    frame = pd.DataFrame(rows)
    extra = [c for c in frame.columns if c not in METRIC_COLUMNS]
    frame = frame.reindex(columns=[c for c in METRIC_COLUMNS if c in frame.columns] + sorted(extra))
    atomic_write_text(Path(run_dir) / METRICS_FILE, frame.to_csv(index=False, float_format=METRICS_FLOAT_FORMAT))


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in (
        "trainfix",
        "torch",
        "torchvision",
        "pytorch-lightning",
        "torchmetrics",
        "hydra-core",
        "omegaconf",
        "wandb",
        "pandas",
    ):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def code_state() -> dict[str, Any]:
    """The git commit of the trainfix checkout (and whether it had uncommitted changes), if any, as
    it was when this process imported trainfix: the code a process runs is what it loaded, so a
    sweep that runs for hours records that commit for every job, not the checkout's later HEAD."""
    return dict(_CODE_STATE_AT_IMPORT)


def _read_code_state() -> dict[str, Any]:
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return {"git_commit": None}
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return {"git_commit": commit.stdout.strip(), "git_dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None}


_CODE_STATE_AT_IMPORT = _read_code_state()


def host_facts(device: str) -> dict[str, Any]:
    import torch

    facts: dict[str, Any] = {"hostname": socket.gethostname(), "device": device, "platform": platform.platform()}
    if device.startswith("cuda") and torch.cuda.is_available():
        facts["gpu"] = torch.cuda.get_device_name()
    else:
        facts["cpu_threads"] = torch.get_num_threads()
    # the CPU kernels torch dispatches to (e.g. AVX2, AVX512): float results, and so a seed's whole trajectory,
    # may differ between hosts that differ here (docs/monitor.md, "One seed, two hosts")
    facts["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    return facts


def best_epoch(metrics: pd.DataFrame, column: str) -> tuple[float, int] | None:
    """The best value of `column` in a metrics table and its epoch (lowest for `*_loss`, else highest);
    None when the column is absent or holds no number."""
    if column not in metrics.columns or metrics[column].isna().all():
        return None
    index = metrics[column].idxmin() if column.endswith("_loss") else metrics[column].idxmax()
    return float(metrics[column][index]), int(metrics["epoch"][index])
