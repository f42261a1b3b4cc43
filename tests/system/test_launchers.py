"""A sweep through the Ray launcher on CPU: one finished run folder per job. (joblib's sweep, its quiet
workers included, is tests/system/test_multirun.py's.)"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.system.test_multirun import sweep


def finished_runs(sweep_dir: Path) -> dict[int, dict]:
    runs = [json.loads(p.read_text()) for p in sweep_dir.glob("*/run.json")]
    return {r["seed"]: r for r in runs if r["status"] == "finished" and r["epochs_completed"] == 1}


ray_missing = [name for name in ("ray", "hydra_plugins.hydra_ray_launcher") if importlib.util.find_spec(name) is None]


@pytest.mark.slow
@pytest.mark.skipif(
    bool(ray_missing), reason=f"not importable: {ray_missing}; pip install -e '.[ray]' (docs/sweeps.md)"
)
def test_ray_launcher_runs_a_sweep_on_a_local_cpu_cluster(cli, tmp_path, data_dir):
    launcher = [
        "hydra/launcher=ray",
        "+hydra.launcher.ray.init.num_cpus=2",  # a local Ray started by the launcher, CPU only
        "+hydra.launcher.ray.init.num_gpus=0",
        "+hydra.launcher.ray.init.include_dashboard=false",
        "+hydra.launcher.ray.remote.num_cpus=1",  # one CPU per job: both jobs run side by side
    ]
    result = sweep(cli, tmp_path, data_dir, launcher)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Ray Launcher is launching 2 jobs" in result.stdout + result.stderr
    assert sorted(finished_runs(tmp_path / "sweep")) == [0, 1]
