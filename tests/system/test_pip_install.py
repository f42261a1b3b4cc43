"""A non-editable `pip install .` carries conf/ and trains a run outside the checkout.

The fresh virtual environment gets no dependency from the network: a `.pth` file puts the suite's own
site-packages (torch, Lightning, Hydra, ...) after its own, so only trainfix is built and installed, offline
(`--no-deps --no-build-isolation --no-index`). The suite's editable install is a `.pth` in that folder, which
Python does not read there (only a site folder's own `.pth` files are), so `import trainfix` finds the
installed copy alone. The checkout's build inputs are copied first, as a fresh clone has them, so the build
writes nothing into the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from tests.conftest import REPO

BUILD_INPUTS = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "conf", "src")


def run(command: list, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{command[:4]} exited {done.returncode}:\n{(done.stdout + done.stderr)[-3000:]}"
    return done


@pytest.mark.slow  # 35 s on the loaded 2-core machine: venv, wheel build and install, two interpreter starts, a run
def test_a_wheel_install_carries_conf_and_trains_a_run(tmp_path, data_dir):
    clone = tmp_path / "clone"
    for name in BUILD_INPUTS:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, clone / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            clone.mkdir(exist_ok=True)
            shutil.copy2(source, clone / name)
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "WANDB_SERVICE")}
    env.update(WANDB_MODE="offline", HYDRA_FULL_ERROR="0", TRAINFIX_DATA_DIR=str(data_dir))
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, env)
    python = venv / "bin" / "python"
    site = Path(
        run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path, env).stdout.strip()
    )
    (site / "suite_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    pip = [python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--quiet", str(clone)]
    run(pip, tmp_path, env)

    installed = site / "trainfix"
    assert (installed / "conf" / "train.yaml").is_file() and (installed / "conf" / "model" / "custom.yaml").is_file()
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert all((venv / "bin" / name).is_file() for name in scripts), sorted(scripts)

    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.rmtree(clone)  # nothing of the checkout is left to fall back on
    where = run([python, "-c", "from trainfix.training import compose; print(compose.CONF_DIR)"], work, env).stdout
    assert Path(where.strip()) == installed / "conf"
    overrides = [
        "trainer.accelerator=cpu",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        "data.train_subset=1000",
        "data.test_subset=500",
        "data.batch_size=100",
        "optimizer=adam",
        "optimizer.lr=0.001",
        "strategy=shuffle",
    ]
    run([python, "-m", "trainfix.train", *overrides], work, env)
    (record,) = [json.loads(p.read_text()) for p in (work / "runs").rglob("run.json")]
    assert record["status"] == "finished" and record["data"]["num_train"] == 1000
    assert record["config"]["model"]["name"] == "lenet5"  # conf/train.yaml's default, read from the installed copy
