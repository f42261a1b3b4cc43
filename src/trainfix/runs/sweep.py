"""A record of each sweep: its own copy of `multirun.yaml`, one line per job, a table at the end.

Hydra writes `multirun/<task>/multirun.yaml` for every sweep into the same folder, so the next sweep
overwrites it. `SweepRecord` (a Hydra callback, conf/hydra/default.yaml) keeps each sweep's own copy
as `multirun/<task>/sweeps/<sweep id>.yaml`, collects one JSON line per job in
`sweeps/<sweep id>.jobs.jsonl` (written by the job, wherever the launcher runs it: the sweep id reaches
the workers through the environment), prints a table of the jobs when the sweep ends, and exits with
status 1 when any job failed (the sweep itself still ran every job, unless `fail_fast_in_sweeps`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from trainfix.core.exit_status import EXIT_FAILED, JobsFailed
from trainfix.core.records import FINISHED

log = logging.getLogger(__name__)

SWEEP_ENV = "TRAINFIX_SWEEP_ID"
SWEEPS_DIR = "sweeps"
FAILED_OUTCOMES = ("failed", "config error", "data error", "storage error")


def ledger_path(sweep_dir: Path, sweep_id: str) -> Path:
    return Path(sweep_dir) / SWEEPS_DIR / f"{sweep_id}.jobs.jsonl"


def record_job(
    sweep_dir: Path, run_dir: Path, outcome: str, metric_name: str, metric: float | None, detail: str = ""
) -> None:
    """Append this job's line to its sweep's ledger (no-op outside a recorded sweep).

    One `write` of one short line to a file opened for appending: lines of concurrent jobs never interleave.
    """
    sweep_id = os.environ.get(SWEEP_ENV)
    if not sweep_id:
        return
    path = ledger_path(sweep_dir, sweep_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    first_line = next(
        (part.strip(" -") for part in detail.splitlines() if part.strip(" -:") and not part.endswith(":")), ""
    )
    line = {
        "run": Path(run_dir).name,
        "outcome": outcome,
        "metric": metric_name,
        "value": metric,
        "detail": first_line[:300],
        "time": time.time(),
    }
    with open(path, "a") as handle:
        handle.write(json.dumps(line) + "\n")


def read_ledger(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def jobs_table(jobs: list[dict[str, Any]]) -> str:
    """A plain-text table: one line per job (run folder, outcome, metric), failures with their reason."""
    if not jobs:
        return (
            "no job reported back (a launcher whose workers do not inherit the environment, e.g. a remote Ray cluster)"
        )
    width = max(len(j["run"]) for j in jobs)
    lines = [f"{'run':<{width}}  {'outcome':<14}  metric"]
    for job in jobs:
        value = "" if job.get("value") is None else f"{job['metric']} {job['value']:.4f}"
        detail = f"  {job['detail']}" if job.get("detail") and job["outcome"] != FINISHED else ""
        lines.append(f"{job['run']:<{width}}  {job['outcome']:<14}  {value}{detail}")
    return "\n".join(lines)


class SweepRecord(Callback):
    """Hydra callback: names the sweep, keeps its multirun.yaml, prints the job table, fails when a job failed."""

    def __init__(self) -> None:
        self.sweep_id = ""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.sweep_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{socket.gethostname()}-{os.getpid()}"
        os.environ[SWEEP_ENV] = self.sweep_id

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        record_dir = sweep_dir / SWEEPS_DIR
        record_dir.mkdir(parents=True, exist_ok=True)
        if (sweep_dir / "multirun.yaml").exists():
            shutil.copyfile(sweep_dir / "multirun.yaml", record_dir / f"{self.sweep_id}.yaml")
        jobs = read_ledger(ledger_path(sweep_dir, self.sweep_id))
        failed = [j for j in jobs if j["outcome"] in FAILED_OUTCOMES]
        counts = {o: sum(j["outcome"] == o for j in jobs) for o in dict.fromkeys(j["outcome"] for j in jobs)}
        log.info(
            "Sweep %s: %d jobs (%s)\n%s\nRecord: %s",
            self.sweep_id,
            len(jobs),
            ", ".join(f"{n} {o}" for o, n in counts.items()),
            jobs_table(jobs),
            record_dir / f"{self.sweep_id}.yaml",
        )
        os.environ.pop(SWEEP_ENV, None)
        if failed:
            log.error("%d of %d jobs failed; see each run folder's run.json", len(failed), len(jobs))
            raise JobsFailed(EXIT_FAILED)
