"""`make` targets run as a user runs them (make found on PATH, the venv step skipped): `make evidence-tables`
copies each run's records of a row and variant and builds the DeepEutaxy tables from the copies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import Cli
from tests.unit.test_deepeutaxy_tables import metrics, norms, write_run


def test_make_evidence_tables_copies_records_per_row_and_variant_and_builds(tmp_path: Path, cli) -> None:
    """`make evidence-tables` copies each run's records (not its checkpoints) of a row and variant into
    <results/deepeutaxy>/<table>/runs/ and builds the tables from those copies; unfinished runs travel too."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    repo = Path(__file__).resolve().parents[2]
    evidence = tmp_path / "evidence" / "deepeutaxy_table_iv_full"
    n = 6
    bl = metrics([0.50, 0.70, 0.80, 0.90, 0.95, 0.96], [0.50, 0.70, 0.80, 0.88, 0.90, 0.91], norms(n, 2))
    write_run(evidence, "lenet5_baseline_paper_seed0-aaaa", "lenet5", "BL", 0, frame=bl)
    (evidence / "lenet5_baseline_paper_seed0-aaaa" / "checkpoints").mkdir()
    (evidence / "lenet5_baseline_paper_seed0-aaaa" / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    write_run(evidence, "lenet5_deepeutaxy_paper_seed0-bbbb", "lenet5", "DE", 0, status="running", frame=bl.head(3))
    write_run(evidence, "cnn1_baseline_paper_seed0-cccc", "cnn1", "BL", 0, frame=bl)
    for name, strategy in (
        ("lenet5_baseline_authors_code_seed0-dddd", "BL"),
        ("lenet5_deepeutaxy_authors_code_seed0-eeee", "DE"),
    ):
        write_run(evidence, name, "lenet5", strategy, 0, frame=bl)
        record = json.loads((evidence / name / "run.json").read_text())
        record["config"]["strategy"]["variant"] = "authors_code"
        (evidence / name / "run.json").write_text(json.dumps(record))
    out = tmp_path / "results"
    done = cli.run(
        Cli.make(
            "evidence-tables",
            f"EVIDENCE_DIR={tmp_path / 'evidence'}",
            f"EVIDENCE_RESULTS={out}",
            venv=tmp_path / "venv",
        ),
        env={"PYTHONPATH": str(repo / "src")},
        cwd=repo,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lenet = out / "table_iv_lenet5_cpu_paper"
    assert sorted(p.name for p in (lenet / "runs").iterdir()) == [
        "lenet5_baseline_paper_seed0-aaaa",
        "lenet5_deepeutaxy_paper_seed0-bbbb",
    ]
    assert sorted(p.name for p in (lenet / "runs" / "lenet5_baseline_paper_seed0-aaaa").iterdir()) == [
        "metrics.csv",
        "run.json",
    ]
    assert f"Runs: {lenet / 'runs'}." in (lenet / "table_iv.md").read_text()  # built from the copies
    per_seed = pd.read_csv(lenet / "seeds_iv_vi.csv", comment="#", index_col=0)
    assert per_seed.loc["lenet5_deepeutaxy_paper_seed0-bbbb", "status"] == "running (epoch 3 so far)"
    cnn1 = out / "table_iv_cnn1_cpu_paper"
    assert [p.name for p in (cnn1 / "runs").iterdir()] == ["cnn1_baseline_paper_seed0-cccc"]
    # authors_code: its own folder, and a second build of the same copies with DE's train accuracy as the code measured
    # it (the fit history's running mean, `train_acc`, 0.1 below train_eval_acc here); BL's is the eval pass in both.
    code = out / "table_iv_lenet5_cpu_authors_code"
    assert sorted(p.name for p in (code / "runs").iterdir()) == [
        "lenet5_baseline_authors_code_seed0-dddd",
        "lenet5_deepeutaxy_authors_code_seed0-eeee",
    ]
    same = pd.read_csv(code / "table_iv_values.csv", comment="#")
    fit = pd.read_csv(out / "table_iv_lenet5_cpu_authors_code_code_measure" / "table_iv_values.csv", comment="#")
    assert (
        f"Runs: {code / 'runs'}." in (out / "table_iv_lenet5_cpu_authors_code_code_measure" / "table_iv.md").read_text()
    )
    assert (out / "table_iv_lenet5_cpu_authors_code_code_measure" / "runs").resolve() == (
        code / "runs"
    ).resolve()  # a link, no copy
    cell = lambda frame, strategy: frame[frame["column"] == f"{strategy} train acc"]["ours"].item()  # noqa: E731
    assert cell(fit, "DE") == pytest.approx(cell(same, "DE") - 10.0)
    assert cell(fit, "BL") == cell(same, "BL") == cell(same, "DE")


def test_the_apricot_held_out_variant_skips_seed_0s_linked_models_and_trains_the_others(tmp_path: Path, cli) -> None:
    """`make evidence-apricot-mnist-validation` after `make evidence-apricot-mnist` (PROFILE=quick, 2 batches a pass):
    seed 0's models are linked from the main runs folder and skipped as finished, though their records name that
    folder's checkpoint path; seed 1's are trained here; both input models get a control and an S1 pass, selected on
    half of quick's 500 test images."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    repo = Path(__file__).resolve().parents[2]
    evidence, out = tmp_path / "evidence", tmp_path / "out"
    common = [
        "PROFILE=quick",
        f"EVIDENCE_DIR={evidence}",
        f"REPRODUCE_OUT={out}",
        "APRICOT_MNIST_ADAPT=retrain_epochs=1 max_batches=2",
    ]
    env = {"PYTHONPATH": str(repo / "src")}
    cli.run(Cli.make("evidence-apricot-mnist", *common, venv=tmp_path / "venv"), env=env, cwd=repo, check=True)
    held_out = "APRICOT_MNIST_VALIDATION=eval_on=validation retrain_epochs=1 max_batches=2"
    done = cli.run(
        Cli.make(
            "evidence-apricot-mnist-validation", *common, held_out, "APRICOT_MNIST_SEEDS=0,1", venv=tmp_path / "venv"
        ),
        env=env,
        cwd=repo,
        check=True,
    )
    runs = evidence / "apricot_mnist_quick_validation"
    models = sorted(p for p in runs.iterdir() if p.name.startswith("lenet5_mnist_"))
    linked = [p for p in models if p.is_symlink()]
    assert len(models) == 12 and {p.name.rsplit("-", 1)[0].rsplit("_", 1)[1] for p in linked} == {"seed0"}
    assert len(linked) == 6 and all(p.resolve().parent == evidence / "apricot_mnist_quick" for p in linked)
    log = done.stdout + done.stderr
    assert all(f"Skipping {p}: already finished" in log for p in linked), log[-3000:]
    assert all(read_status(p) == "finished" for p in models)
    passes = pd.read_csv(out / "apricot" / "lenet5_mnist_cpu_quick_validation" / "table_v_passes.csv", comment="#")
    assert sorted(zip(passes["model_seed"], passes["control"])) == [(0, False), (0, True), (1, False), (1, True)]


def read_status(run: Path) -> str:
    return json.loads((run / "run.json").read_text())["status"]
