"""Hydra multiruns through the joblib and submitit_local launchers, on CPU, with skip on re-invocation."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Cli


def sweep(cli: Cli, tmp_path: Path, data_dir: Path, launcher: list[str]) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "trainfix.train",
        "-m",
        *launcher,
        f"paths.data_dir={data_dir}",
        f"paths.multirun_dir={tmp_path}",
        "task_name=sweep",
        "trainer.accelerator=cpu",
        "trainer.enable_progress_bar=false",
        "trainer.max_epochs=1",
        "data.train_subset=500",
        "data.test_subset=200",
        "data.batch_size=250",
        "seed=0,1",
    ]
    return cli.run(cmd)


JOBLIB = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]


@pytest.mark.slow  # two 2-job sweeps
@pytest.mark.parametrize(
    "launcher",
    [JOBLIB, ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10", "hydra.launcher.cpus_per_task=1"]],
    ids=["joblib", "submitit_local"],
)
def test_multirun_writes_one_finished_folder_per_job(cli, tmp_path, data_dir, launcher):
    result = sweep(cli, tmp_path, data_dir, launcher)
    assert result.returncode == 0, result.stderr[-3000:]
    if launcher == JOBLIB:
        # Lightning's litlogger advert is filtered in the worker processes too (the filters are installed by
        # train(), not at import, and joblib runs `__main__.main` in workers that never import trainfix.train).
        logs = result.stdout + result.stderr + "".join(p.read_text() for p in (tmp_path / "sweep").glob("*/*.log"))
        assert "Instantiating trainer" in logs  # the workers' logs are in what is searched
        assert "litlogger" not in logs
    runs = {p.parent.name: json.loads(p.read_text()) for p in (tmp_path / "sweep").glob("*/run.json")}
    labels = sorted(name.rsplit("-", 1)[0] for name in runs)
    assert labels == ["baseline-lenet5-mnist-s0", "baseline-lenet5-mnist-s1"]  # <strategy>-<model>-<data>-s<seed>
    assert all(len(name.rsplit("-", 1)[1]) == 8 for name in runs)  # <label>-<config hash>
    assert all(r["status"] == "finished" and r["epochs_completed"] == 1 for r in runs.values())
    assert sorted(r["seed"] for r in runs.values()) == [0, 1]

    before = {name: (tmp_path / "sweep" / name / "metrics.csv").read_bytes() for name in runs}
    again = sweep(cli, tmp_path, data_dir, launcher)
    assert again.returncode == 0, again.stderr[-3000:]
    assert {name: (tmp_path / "sweep" / name / "metrics.csv").read_bytes() for name in runs} == before
    # Each sweep keeps its own multirun.yaml and job lines, whatever the launcher's worker processes.
    records = sorted((tmp_path / "sweep" / "sweeps").glob("*.yaml"))
    ledgers = sorted((tmp_path / "sweep" / "sweeps").glob("*.jobs.jsonl"))
    assert len(records) == 2 and len(ledgers) == 2
    outcomes = [sorted(json.loads(line)["outcome"] for line in ledger.read_text().splitlines()) for ledger in ledgers]
    assert sorted(outcomes) == [["finished", "finished"], ["skipped (finished)", "skipped (finished)"]]
    assert "skipped (finished)" in again.stderr + again.stdout


@pytest.mark.slow  # a 3-job sweep and a fourth run
def test_sweep_over_a_key_the_experiment_label_omits_and_a_failing_job(cli, tmp_path, data_dir):
    """experiment=... optimizer.lr=0.1,0.05,inf: one folder per value, the bad one recorded as failed, exit 1,
    and the same configuration spelled another way later is skipped, not trained again."""
    common = [
        sys.executable,
        "-m",
        "trainfix.train",
        "-m",
        "experiment=deepeutaxy/table_iv/lenet5",
        "profile=quick",
        "strategy=baseline",
        f"paths.data_dir={data_dir}",
        f"paths.multirun_dir={tmp_path}",
        "trainer.max_epochs=1",
        "quick.train_subset=500",
        "quick.test_subset=200",
        "trainer.enable_progress_bar=false",
    ]
    done = cli.run([*common, "optimizer.lr=0.1,0.05,inf"])
    assert done.returncode == 1, done.stderr[-3000:]
    runs = {
        p.parent.name: json.loads(p.read_text()) for p in (tmp_path / "deepeutaxy_table_iv_quick").glob("*/run.json")
    }
    assert all(name.startswith("lenet5_baseline_paper_seed0-") for name in runs)
    assert sorted(r["status"] for r in runs.values()) == ["failed", "finished", "finished"]
    assert sorted(r["config"]["optimizer"]["lr"] for r in runs.values() if r["status"] == "finished") == [0.05, 0.1]
    failed = next(r for r in runs.values() if r["status"] == "failed")
    assert "optimizer.lr=inf: must be a finite number" in failed["error"]
    table = done.stderr + done.stdout
    assert "3 jobs (2 finished, 1 config error)" in table and "1 of 3 jobs failed" in table

    respelled = cli.run([*common, "optimizer.lr=0.05", "data=mnist", "model=lenet5", "seed=0"])
    assert respelled.returncode == 0, respelled.stderr[-3000:]
    assert "skipped (finished)" in respelled.stderr + respelled.stdout
    assert len(list((tmp_path / "deepeutaxy_table_iv_quick").glob("*/run.json"))) == 3
