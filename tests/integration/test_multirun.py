"""Hydra multiruns through the joblib and submitit_local launchers, on CPU, with skip on re-invocation."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def sweep(tmp_path: Path, data_dir: Path, launcher: list[str]) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable, "-m", "trainfix.train", "-m", *launcher,
        f"paths.data_dir={data_dir}", f"paths.multirun_dir={tmp_path}", "task_name=sweep",
        "trainer.accelerator=cpu", "trainer.enable_progress_bar=false", "trainer.max_epochs=1",
        "data.train_subset=500", "data.test_subset=200", "data.batch_size=250", "seed=0,1",
    ]
    env = {**os.environ, "WANDB_MODE": "offline"}
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.parametrize(
    "launcher",
    [
        ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
        ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10", "hydra.launcher.cpus_per_task=1"],
    ],
    ids=["joblib", "submitit_local"],
)
def test_multirun_writes_one_finished_folder_per_job(tmp_path, data_dir, launcher):
    result = sweep(tmp_path, data_dir, launcher)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = {p.parent.name: json.loads(p.read_text()) for p in (tmp_path / "sweep").glob("*/run.json")}
    prefix = "data.batch_size=250,data.test_subset=200,data.train_subset=500"
    assert sorted(runs) == [f"{prefix},seed=0,trainer.max_epochs=1", f"{prefix},seed=1,trainer.max_epochs=1"]
    assert all(r["status"] == "finished" and r["epochs_completed"] == 1 for r in runs.values())
    assert sorted(r["seed"] for r in runs.values()) == [0, 1]

    before = {name: (tmp_path / "sweep" / name / "metrics.csv").read_bytes() for name in runs}
    again = sweep(tmp_path, data_dir, launcher)
    assert again.returncode == 0, again.stderr[-3000:]
    assert {name: (tmp_path / "sweep" / name / "metrics.csv").read_bytes() for name in runs} == before
