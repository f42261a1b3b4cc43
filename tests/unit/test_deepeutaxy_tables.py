"""DeepEutaxy Tables IV-VII and Figure 3 from hand-made run folders, checked against hand-computed cells.

The runs (2 expected seeds, 12 epochs, accuracies as fractions):
  cnn1    BL  seeds 0, 1 finished, converge (grad_norm_last <= 0.01) at epoch index 5 and 3
          SPL seeds 0, 1 finished, never converge, never reach BL's max train accuracy
          DE  seed 0 finished, converges at index 1; seed 1 diverged
  lenet5  BL  seeds 0, 1: data missing (run.json only, DatasetMissingError)
          SPL seed 0 finished (no train_eval columns; index 0 made no step), converges at index 2; seed 1 failed
          DE  no run folder at all (missing)
  junk/   an unreadable run.json
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from trainfix.papers.deepeutaxy import build_table, load_paper_table, seed_values, table_iv_values
from trainfix.papers.deepeutaxy_figure import figure_3, figure_3_caption, figure_3_curves
from trainfix.papers.deepeutaxy_runs import collect_de_runs
from trainfix.results.__main__ import main
from trainfix.results.collect import RunsInputError, collect_runs

TARGETS = {
    "BL": "trainfix.strategies.baseline.Baseline",
    "SPL": "trainfix.strategies.spl.SelfPaced",
    "DE": "trainfix.strategies.deepeutaxy.DeepEutaxy",
    "SPL+DE": "trainfix.strategies.spl_deepeutaxy.SelfPacedDeepEutaxy",
}
NOT_YET, HIT = 0.5, 0.005  # gradient norms above / below epsilon = 0.01


def norms(n: int, *hits: int) -> list[float]:
    return [HIT if i in hits else NOT_YET for i in range(n)]


def metrics(
    train_eval_acc: list[float] | None,
    test_acc: list[float],
    grad_last: list[float],
    grad_mean: list[float] | None = None,
    train_acc: list[float] | None = None,
    first_epoch: int = 0,
) -> pd.DataFrame:
    n = len(test_acc)
    running = (
        train_acc if train_acc is not None else [a - 0.1 for a in train_eval_acc]
    )  # differs from train_eval_acc on purpose
    frame = pd.DataFrame(
        {
            "epoch": range(first_epoch, first_epoch + n),
            "global_step": [60 * (i + 1) for i in range(n)],
            "train_loss": [1 - a for a in running],
            "train_acc": running,
            "test_loss": [1 - a for a in test_acc],
            "test_acc": test_acc,
            "lr": 0.1,
            "grad_norm_mean": grad_mean if grad_mean is not None else [1.0] * n,
            "grad_norm_last": grad_last,
            "epoch_time_s": 1.0,
            "samples_seen": [60000 * (i + 1) for i in range(n)],
            "eval_time_s": 0.1,
        }
    )
    if train_eval_acc is not None:
        frame["train_eval_acc"] = train_eval_acc
        frame["train_eval_loss"] = [1 - a for a in train_eval_acc]
    return frame


def write_run(
    root: Path,
    name: str,
    model: str,
    strategy: str,
    seed: int,
    status: str = "finished",
    frame: pd.DataFrame | None = None,
    error: str | None = None,
    role: str | None = None,
    init_from: str | None = None,
) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    config = {
        "seed": seed,
        "profile": "quick",
        "model": {"name": model},
        "scheduler": {"scheduler": None},
        "strategy": {"_target_": TARGETS[strategy], "variant": "paper"},
        "convergence": {"epsilon": 0.01, "reading": "last"},
    }
    if role is not None:
        config["table_vii_role"] = role
        config["init_from"] = init_from
    record = {"status": status, "seed": seed, "config": config, "host": {"device": "cpu"}}
    if status != "failed" or not (error or "").startswith("DatasetMissingError"):
        dataset = "MNIST" if model in ("cnn1", "lenet5") else "CIFAR-10"
        record["data"] = {"label": dataset, "official": True, "num_train": 60000}
    if error:
        record["error"] = error
    (folder / "run.json").write_text(json.dumps(record))
    if frame is not None:
        frame.to_csv(folder / "metrics.csv", index=False)


@pytest.fixture
def multirun(tmp_path: Path) -> Path:
    root = tmp_path / "multirun" / "deepeutaxy_table_iv"
    n = 12
    write_run(
        root,
        "cnn1_bl_0",
        "cnn1",
        "BL",
        0,
        frame=metrics(
            [0.50, 0.60, 0.70, 0.80, 0.85, 0.90, 0.91, 0.92, 0.96, 0.95, 0.95, 0.94],
            [0.40, 0.50, 0.60, 0.70, 0.75, 0.80, 0.82, 0.81, 0.80, 0.80, 0.79, 0.78],
            norms(n, 5, 8),
            grad_mean=norms(n, 7),
        ),
    )
    write_run(
        root,
        "cnn1_bl_1",
        "cnn1",
        "BL",
        1,
        frame=metrics(
            [0.40, 0.55, 0.65, 0.75, 0.80, 0.85, 0.88, 0.90, 0.92, 0.93, 0.94, 0.94],
            [0.45, 0.55, 0.65, 0.72, 0.76, 0.78, 0.79, 0.80, 0.80, 0.79, 0.78, 0.77],
            norms(n, 3),
        ),
    )
    write_run(
        root,
        "cnn1_spl_0",
        "cnn1",
        "SPL",
        0,
        frame=metrics(
            [0.30, 0.40, 0.50, 0.60, 0.70, 0.80, 0.85, 0.88, 0.90, 0.91, 0.92, 0.93],
            [0.50, 0.60, 0.70, 0.80, 0.82, 0.83, 0.83, 0.84, 0.84, 0.84, 0.84, 0.83],
            norms(n),
        ),
    )
    write_run(
        root,
        "cnn1_spl_1",
        "cnn1",
        "SPL",
        1,
        frame=metrics(
            [0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80, 0.85, 0.88, 0.90, 0.92, 0.92],
            [0.50, 0.55, 0.60, 0.65, 0.70, 0.75, 0.80, 0.82, 0.83, 0.83, 0.83, 0.83],
            norms(n),
        ),
    )
    write_run(
        root,
        "cnn1_de_0",
        "cnn1",
        "DE",
        0,
        frame=metrics(
            [0.60, 0.80, 0.90, 0.95, 0.97, 0.98, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99],
            [0.60, 0.70, 0.75, 0.78, 0.81, 0.84, 0.85, 0.85, 0.84, 0.84, 0.84, 0.84],
            norms(n, 1),
        ),
    )
    diverged = metrics([0.99, 0.10, 0.10], [0.99, 0.10, 0.10], norms(3, 0))  # high numbers that must not count
    diverged.loc[2, "train_loss"] = math.nan
    write_run(root, "cnn1_de_1", "cnn1", "DE", 1, status="diverged", frame=diverged)
    for seed in (0, 1):
        write_run(
            root,
            f"lenet5_bl_{seed}",
            "lenet5",
            "BL",
            seed,
            status="failed",
            error="DatasetMissingError: MNIST files not found in data/MNIST/raw: train-images-idx3-ubyte.gz ...",
        )
    no_step_first = metrics(None, [0.60, 0.80, 0.85], norms(3, 2), train_acc=[0.50, 0.70, 0.90])
    no_step_first.loc[0, ["grad_norm_last", "grad_norm_mean", "samples_seen"]] = (
        0  # SPL selected nothing: no step, norm 0
    )
    write_run(root, "lenet5_spl_0", "lenet5", "SPL", 0, frame=no_step_first)
    write_run(
        root,
        "lenet5_spl_1",
        "lenet5",
        "SPL",
        1,
        status="failed",
        error="RuntimeError: boom",
        frame=metrics([0.99, 0.99], [0.99, 0.99], norms(2, 0)),
    )
    (root / "junk").mkdir()
    (root / "junk" / "run.json").write_text("{not json")
    return root


@pytest.fixture
def table_vii_runs(tmp_path: Path) -> tuple[Path, Path]:
    base, vii = tmp_path / "base", tmp_path / "vii"
    write_run(
        base,
        "r20_spl_0",
        "resnet20",
        "SPL",
        0,
        frame=metrics([0.85, 0.88, 0.90, 0.89], [0.70, 0.71, 0.72, 0.71], norms(4)),
    )
    write_run(
        base,
        "r20_spl_1",
        "resnet20",
        "SPL",
        1,
        frame=metrics([0.86, 0.89, 0.91, 0.90], [0.69, 0.70, 0.70, 0.68], norms(4)),
    )
    write_run(base, "r20_bl_0", "resnet20", "BL", 0, frame=metrics([1.0] * 4, [0.9] * 4, norms(4, 0)))  # not a Base run
    for seed in (0, 1):
        write_run(
            vii,
            f"spl_{seed}",
            "resnet20",
            "SPL",
            seed,
            role="spl",
            init_from=str(base / f"r20_spl_{seed}" / "checkpoints" / "last.ckpt"),
            frame=metrics([0.90, 0.91, 0.92, 0.91], [0.71, 0.72, 0.71, 0.70], norms(4), first_epoch=200),
        )
    # role "deepeutaxy": the strategy group name, as conf/experiment/deepeutaxy/table_vii writes it.
    write_run(
        vii,
        "de_0",
        "resnet20",
        "DE",
        0,
        role="deepeutaxy",
        frame=metrics([0.92, 0.95, 0.99, 1.0], [0.72, 0.73, 0.74, 0.74], norms(4, 2), first_epoch=200),
    )
    write_run(
        vii,
        "de_1",
        "resnet20",
        "DE",
        1,
        role="de",
        frame=metrics([0.93, 0.97, 1.0, 1.0], [0.71, 0.73, 0.75, 0.74], norms(4, 0), first_epoch=200),
    )
    write_run(
        vii,
        "spl_de_0",
        "resnet20",
        "SPL+DE",
        0,
        role="spl_de",
        frame=metrics([0.90, 0.93, 0.95, 0.97], [0.72, 0.72, 0.73, 0.74], norms(4, 3), first_epoch=200),
    )
    write_run(vii, "spl_de_1", "resnet20", "SPL+DE", 1, role="spl_de", status="failed", error="RuntimeError: boom")
    return vii, base


# --------------------------------------------------------------------------- collect
def test_collect_reads_every_folder_and_survives_bad_ones(multirun: Path) -> None:
    runs = collect_de_runs(multirun)  # the one reader, with DeepEutaxy's labels
    status = dict(zip(runs.runs["run_id"], runs.runs["status"]))
    assert status["lenet5_bl_0"] == "data missing"
    assert status["lenet5_spl_1"] == "failed"
    assert status["cnn1_de_1"] == "diverged"
    assert status["junk"] == "unreadable"
    assert len(runs.runs) == 11
    columns = dict(zip(runs.runs["run_id"], runs.runs["train_acc_column"]))
    assert columns["cnn1_bl_0"] == "train_eval_acc" and columns["lenet5_spl_0"] == "train_acc"
    first = runs.metrics("cnn1_bl_0").iloc[0]
    assert (
        first["epoch_number"] == 1
        and first["train_acc_used"] == 0.50
        and first["row"] == "cnn1"
        and first["strategy"] == "BL"
    )


def test_collect_rejects_a_missing_or_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(RunsInputError, match="does not exist"):
        collect_runs(tmp_path / "nope")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(RunsInputError, match=r"holds no run folders .*found: sub"):
        collect_runs(tmp_path / "empty")


def test_collect_reads_run_folders_linked_into_the_runs_folder(tmp_path: Path) -> None:
    """A runs folder may link run folders in (the Apricot step-size evidence shares its trained runs that way)."""
    write_run(tmp_path / "real", "m", "lenet5", "BL", 0, frame=metrics([0.5], [0.5], norms(1)))
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "m").symlink_to(tmp_path / "real" / "m", target_is_directory=True)
    assert (
        collect_runs(tmp_path / "linked").runs["run_id"].tolist()
        == collect_runs(tmp_path / "real").runs["run_id"].tolist()
        == ["m"]
    )


def test_collect_refuses_a_linked_run_folder_it_cannot_read(tmp_path: Path) -> None:
    """A broken link, or a link that git checked out as a file (core.symlinks=false), would leave its cells "not
    run": refused, naming the entry and the fix."""
    write_run(tmp_path / "runs", "m", "lenet5", "BL", 0, frame=metrics([0.5], [0.5], norms(1)))
    (tmp_path / "runs" / "gone").symlink_to(tmp_path / "nowhere" / "m", target_is_directory=True)
    with pytest.raises(RunsInputError, match=r"1 linked run folder\(s\) cannot be read.*gone -> .*nowhere/m"):
        collect_runs(tmp_path / "runs")
    (tmp_path / "runs" / "gone").unlink()
    (tmp_path / "runs" / "as_file").write_text("../../other/runs/m")
    with pytest.raises(
        RunsInputError, match=r"as_file is a file holding the path \.\./\.\./other/runs/m .*core\.symlinks"
    ):
        collect_runs(tmp_path / "runs")
    (tmp_path / "runs" / "as_file").unlink()
    (tmp_path / "runs" / "notes").write_text("seed 2 ran twice\n")  # another file: not a link, read as before
    assert collect_runs(tmp_path / "runs").runs["run_id"].tolist() == ["m"]


def test_row_from_model_and_cyclic_scheduler(tmp_path: Path) -> None:
    write_run(tmp_path, "m", "mobilenetv2", "BL", 0, frame=metrics([0.5], [0.5], norms(1)))
    record = json.loads((tmp_path / "m" / "run.json").read_text())
    record["config"]["scheduler"]["scheduler"] = {"_target_": "torch.optim.lr_scheduler.CyclicLR"}
    (tmp_path / "m" / "run.json").write_text(json.dumps(record))
    assert collect_de_runs(tmp_path).runs["row"].tolist() == ["mobilenetv2_clr"]


# --------------------------------------------------------------------------- Table IV
def test_table_iv_cells(multirun: Path) -> None:
    table = build_table("iv", collect_runs(multirun))
    assert list(table.index) == ["CNN1", "LeNet-5"]
    cnn1 = table.loc["CNN1"]
    # BL converged at epoch index 5 (seed 0) and 3 (seed 1): epochs 6 and 4; train_eval_acc there 0.90 and 0.75.
    assert cnn1[("BL epochs to converge", "ours")] == "5 ± 1.41 (n=2)"
    assert cnn1[("BL epochs to converge", "paper")] == "81.8"
    assert cnn1[("BL epochs to converge", "diff")] == "-76.8"  # 5 - 81.8
    assert cnn1[("BL train acc", "ours")] == "82.50% ± 10.61 (n=2)"
    assert cnn1[("BL train acc", "diff")] == "-16.37 pp"  # 82.50 - 98.87
    assert cnn1[("BL test acc", "ours")] == "76.00% ± 5.66 (n=2)"  # (0.80 + 0.72) / 2
    # SPL never converged: values at the last epoch, (0.93 + 0.92) / 2.
    assert cnn1[("SPL train acc", "ours")] == "92.50% ± 0.71 (n=2)"
    assert cnn1[("SPL epochs to converge", "ours")] == "not converged"
    assert cnn1[("SPL epochs to converge", "diff")] == "n/a"
    # DE: seed 0 converged at index 1 (epoch 2), seed 1 diverged and must not count.
    assert cnn1[("DE epochs to converge", "ours")] == "2 (1/2; 1 diverged)"
    assert cnn1[("DE train acc", "ours")] == "80.00% (1/2; 1 diverged)"
    assert cnn1[("DE train acc", "diff")] == "-19.83 pp"  # 80.00 - 99.83
    # vs BL: SPL - BL over seeds, (93, 92) vs (90, 75), Welch's interval as scipy's; DE has one seed: no interval.
    ci = stats.ttest_ind([93.0, 92.0], [90.0, 75.0], equal_var=False).confidence_interval()
    assert cnn1[("SPL train acc", "vs BL")] == f"+10.00 [{ci.low:+.2f}, {ci.high:+.2f}]"
    assert cnn1[("DE train acc", "vs BL")] == "-2.50 (no interval: n < 2)"
    assert ("BL train acc", "vs BL") not in table.columns
    assert "95 % Welch t interval over seeds (n per arm as shown)" in "\n".join(table.attrs["caption"])
    lenet = table.loc["LeNet-5"]
    assert lenet[("BL train acc", "ours")] == "data missing"
    assert lenet[("BL train acc", "paper")] == "99.09%"
    assert lenet[("BL test acc", "paper")] == "97.93%"
    assert lenet[("SPL train acc", "ours")] == "90.00% (1/2; 1 failed)"  # train_acc: no train_eval columns
    assert (
        lenet[("SPL epochs to converge", "ours")] == "3 (1/2; 1 failed)"
    )  # epoch 1 made no step: its norm 0 does not count
    assert lenet[("DE test acc", "ours")] == "missing"
    assert lenet[("SPL train acc", "vs BL")] == "n/a"  # BL: data missing
    assert lenet[("DE epochs to converge", "ours")] == "missing"


def test_table_iv_numbers_mean_reading_and_epsilon(multirun: Path) -> None:
    runs = collect_runs(multirun)
    values = table_iv_values(runs).set_index(["row", "column"])
    assert values.loc[("cnn1", "BL train acc"), "ours"] == pytest.approx(82.5)
    assert values.loc[("cnn1", "BL train acc"), "diff"] == pytest.approx(82.5 - 98.87)
    assert values.loc[("cnn1", "DE epochs to converge"), "seeds_used"] == 1
    # mean reading: BL seed 0 meets it at index 7 (epoch 8, train acc 0.92); seed 1 never (last epoch, 0.94).
    mean = build_table("iv", runs, convergence="mean").loc["CNN1"]
    assert mean[("BL epochs to converge", "ours")] == "8 (1/2; 1 not converged)"
    assert mean[("BL train acc", "ours")] == "93.00% ± 1.41 (n=2)"
    # every norm (0.5) is <= 0.6: all converge at the first epoch.
    assert build_table("iv", runs, epsilon=0.6).loc["CNN1", ("SPL epochs to converge", "ours")] == "1 ± 0 (n=2)"
    with pytest.raises(ValueError, match="convergence='median'"):
        build_table("iv", runs, convergence="median")


def test_captions_state_provenance(multirun: Path) -> None:
    caption = "\n".join(build_table("iv", collect_runs(multirun)).attrs["caption"])
    assert "Profile: quick." in caption
    assert "MNIST (official files)" in caption
    assert "Hardware: cpu." in caption
    assert "Seeds: 2 expected per cell (0, 1)" in caption
    assert "grad_norm_last" in caption and "reading 'last'" in caption
    assert "train_eval_acc (whole training set in eval mode after each epoch) in 5 finished runs" in caption
    assert "train_acc (running mean" in caption and "in 1 finished run." in caption
    assert "Not used: 1 run folder without" in caption


# --------------------------------------------------------------------------- Tables V and VI
def test_table_v_training_accuracy(multirun: Path) -> None:
    cnn1 = build_table("v", collect_runs(multirun)).loc["CNN1"]
    assert cnn1[("BL max train acc", "ours")] == "95.00% ± 1.41 (n=2)"  # (0.96 + 0.94) / 2
    # BL's max at index 8 (epoch 9) and first at index 10 (epoch 11; repeated at 11): A = 10.
    assert cnn1[("BL epochs to max (A)", "ours")] == "10 ± 1.41 (n=2)"
    assert cnn1[("SPL max train acc", "ours")] == "92.50% ± 0.71 (n=2)"
    assert cnn1[("SPL epochs to max", "ours")] == "11.5 ± 0.71 (n=2)"  # (12 + 11) / 2
    assert cnn1[("SPL same level as BL (B)", "ours")] == "failed"
    assert cnn1[("SPL same level as BL (B)", "paper")] == "44"
    assert cnn1[("Speedup (A/B)", "ours")] == "-"
    # DE seed 0 reaches 0.95 (BL's level) at index 3: C = 4, speedup 10 / 4 = 2.5.
    assert cnn1[("DE same level as BL (C)", "ours")] == "4 (1/2; 1 diverged)"
    assert cnn1[("DE epochs to max", "ours")] == "7 (1/2; 1 diverged)"
    assert cnn1[("Speedup (A/C)", "ours")] == "2.50 (1/2)"
    assert cnn1[("Speedup (A/C)", "paper")] == "8.45"
    assert cnn1[("Speedup (A/C)", "diff")] == "-5.95"  # 2.50 - 8.45
    lenet = build_table("v", collect_runs(multirun)).loc["LeNet-5"]
    assert lenet[("BL max train acc", "ours")] == "data missing"
    assert lenet[("SPL same level as BL (B)", "ours")] == "no BL result"


def test_table_vi_test_accuracy(multirun: Path) -> None:
    cnn1 = build_table("vi", collect_runs(multirun)).loc["CNN1"]
    assert cnn1[("BL max test acc", "ours")] == "81.00% ± 1.41 (n=2)"  # (0.82 + 0.80) / 2
    assert cnn1[("BL epochs to max (A)", "ours")] == "7.5 ± 0.71 (n=2)"  # (7 + 8) / 2
    assert cnn1[("SPL max test acc", "ours")] == "83.50% ± 0.71 (n=2)"
    assert cnn1[("SPL same level as BL (B)", "ours")] == "6.5 ± 2.12 (n=2)"  # 0.81 first reached at epochs 5 and 8
    assert cnn1[("Speedup (A/B)", "ours")] == "1.15"  # 7.5 / 6.5
    assert cnn1[("DE same level as BL (C)", "ours")] == "5 (1/2; 1 diverged)"
    assert cnn1[("Speedup (A/C)", "ours")] == "1.50 (1/2)"
    assert cnn1[("Speedup (A/C)", "paper")] == "12.57"
    assert cnn1[("BL max test acc", "diff")] == "-17.67 pp"  # 81.00 - 98.67


# --------------------------------------------------------------------------- Table VII
def test_table_vii(table_vii_runs: tuple[Path, Path]) -> None:
    vii, base = table_vii_runs
    table = build_table("vii", collect_runs(vii), collect_runs(base))
    assert list(table.index) == ["Base", "SPL", "DE", "SPL+DE"]
    assert table.loc["Base", ("ResNet-20 max train acc", "ours")] == "90.50% ± 0.71 (n=2)"  # (0.90 + 0.91) / 2
    assert table.loc["Base", ("ResNet-20 max train acc", "diff")] == "+0.33 pp"  # 90.50 - 90.17
    assert table.loc["Base", ("ResNet-20 max test acc", "ours")] == "71.00% ± 1.41 (n=2)"  # (0.72 + 0.70) / 2
    assert table.loc["Base", ("ResNet-20 additional epochs to converge", "ours")] == "-"
    assert table.loc["SPL", ("ResNet-20 additional epochs to converge", "ours")] == "failed"
    # DE: epochs 200..203, converged at the 3rd and the 1st: 2 additional epochs on average.
    assert table.loc["DE", ("ResNet-20 additional epochs to converge", "ours")] == "2 ± 1.41 (n=2)"
    assert table.loc["DE", ("ResNet-20 additional epochs to converge", "diff")] == "-6"  # 2 - 8
    assert table.loc["DE", ("ResNet-20 max train acc", "ours")] == "100.00% ± 0.00 (n=2)"
    assert table.loc["SPL+DE", ("ResNet-20 additional epochs to converge", "ours")] == "4 (1/2; 1 failed)"
    with pytest.raises(ValueError, match="table_vii_role"):
        build_table("vii", collect_runs(base))


def test_table_vii_leaves_a_dead_continuation_out(table_vii_runs: tuple[Path, Path]) -> None:
    """A Table VII run at chance level (train 10 %, step gradient under epsilon: no full-set norm
    recorded, so the step readings decide) reads "chance level" and is named in the caption."""
    vii, base = table_vii_runs
    shutil.rmtree(vii / "spl_de_1")
    write_run(
        vii,
        "spl_de_1",
        "resnet20",
        "SPL+DE",
        1,
        role="spl_de",
        frame=metrics([0.10, 0.10, 0.10, 0.10], [0.10] * 4, norms(4, 0, 1, 2, 3), first_epoch=200),
    )
    table = build_table("vii", collect_runs(vii), collect_runs(base))
    assert table.loc["SPL+DE", ("ResNet-20 max train acc", "ours")] == "97.00% (1/2; 1 chance level)"
    assert "ResNet-20 SPL+DE seed 1 (max train 10.00%)" in "\n".join(table.attrs["caption"])
    counted = build_table("vii", collect_runs(vii), collect_runs(base), chance_level="count")
    assert counted.loc["SPL+DE", ("ResNet-20 max train acc", "ours")] == "53.50% ± 61.52 (n=2)"  # (97 + 10) / 2


# --------------------------------------------------------------------------- paper numbers
def test_paper_numbers_match_the_seed() -> None:
    iv, v, vi, vii = (load_paper_table(t) for t in ("iv", "v", "vi", "vii"))
    assert iv["rows"]["lenet5"]["test_acc"]["BL"] == 97.93
    assert iv["rows"]["cnn1"]["train_acc"]["BL"] == 98.87 and iv["rows"]["cnn1"]["test_acc"]["BL"] == 98.52
    assert iv["rows"]["mobilenetv2_clr"]["epochs_to_converge"] == {"BL": 155.8, "SPL": "not converged", "DE": 70.0}
    assert v["rows"]["cnn1"]["speedup"]["DE"] == 8.45
    assert v["rows"]["resnet20"]["same_level_as_bl"]["SPL"] == "failed"
    assert vi["rows"]["lenet5"]["speedup"]["DE"] == 15.15
    assert vi["rows"]["cnn1"]["same_level_as_bl"]["SPL"] == 63.5
    assert vii["rows"]["de"]["resnet32"]["additional_epochs"] == 7
    assert vii["rows"]["spl"]["resnet20"]["additional_epochs"] == "failed"
    assert [list(t["rows"]) for t in (iv, v, vi)] == [
        ["cnn1", "lenet5", "resnet20", "resnet32", "mobilenetv2", "mobilenetv2_clr"]
    ] * 3
    for unknown in (lambda: load_paper_table("viii"), lambda: build_table("viii", None)):
        with pytest.raises(ValueError, match="table='viii' is not a DeepEutaxy table.*accepted: iv, v, vi, vii"):
            unknown()


# --------------------------------------------------------------------------- Figure 3 and the CLI
def test_figure_3_curves_mean_and_band(multirun: Path) -> None:
    curves = figure_3_curves(collect_runs(multirun)).set_index(["row", "strategy", "metric", "epoch_number"])
    first = curves.loc[("cnn1", "BL", "train_acc_used", 1)]
    assert (first["mean"], first["low"], first["high"], first["seeds"]) == (
        pytest.approx(45.0),
        pytest.approx(40.0),
        pytest.approx(50.0),
        2,
    )
    assert curves.loc[("cnn1", "DE", "test_acc", 1), "seeds"] == 1  # the diverged seed is left out
    assert ("lenet5", "BL", "test_acc", 1) not in curves.index  # data missing: nothing to plot


def test_cli_writes_tables_and_figure(multirun: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results"
    assert main(["deepeutaxy", "--runs", str(multirun), "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "Table IV (DeepEutaxy)" in printed.out and "Table VI (DeepEutaxy)" in printed.out
    assert "Table VII skipped" in printed.err
    for stem in ("table_iv", "table_v", "table_vi"):
        for suffix in (".md", ".csv", ".tex", "_values.csv"):
            assert (out / f"{stem}{suffix}").stat().st_size > 0
    assert (out / "figure_3.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv = pd.read_csv(out / "table_iv.csv", comment="#", index_col=0)
    assert csv.loc["CNN1", "BL train acc (ours)"] == "82.50% ± 10.61 (n=2)"
    assert csv.loc["LeNet-5", "BL test acc (paper)"] == "97.93%"
    assert (out / "table_iv.csv").read_text().startswith("# Table IV (DeepEutaxy)")
    assert "Profile: quick" in (out / "table_v.md").read_text()
    assert r"\multicolumn{3}{c}{BL train acc}" in (out / "table_iv.tex").read_text()
    values = pd.read_csv(out / "table_v_values.csv", comment="#")
    assert values.set_index(["row", "column"]).loc[("cnn1", "Speedup (A/C)"), "ours"] == pytest.approx(2.5)
    per_seed = pd.read_csv(out / "seeds_iv_vi.csv", comment="#", index_col=0)
    assert per_seed.loc["cnn1_bl_0", "max train acc (epoch)"] == "96.00% (9)"
    assert per_seed.loc["cnn1_de_1", "status"].startswith("diverged")
    assert "Tables IV-VI (DeepEutaxy) per seed" in (out / "report.html").read_text()
    assert not list(out.glob(".*.tmp"))
    with pytest.raises(SystemExit) as exit_info:  # argparse: exit status 2, the accepted values named
        main(["deepeutaxy", "--runs", str(multirun), "--out", str(out), "--chance-level", "keep"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'keep' (choose from 'exclude', 'count')" in capsys.readouterr().err


def test_cli_table_vii(table_vii_runs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vii, base = table_vii_runs
    out = tmp_path / "vii_out"
    assert main(["deepeutaxy", "--runs", str(vii), "--base-runs", str(base), "--out", str(out), "--table", "vii"]) == 0
    assert "Table VII (DeepEutaxy)" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} == {
        "table_vii.md",
        "table_vii.csv",
        "table_vii.tex",
        "table_vii_values.csv",
        "report.html",
    }
    # Without --base-runs the Base runs are found through the runs' init_from; --table all builds VII only.
    out_all = tmp_path / "vii_all"
    assert main(["deepeutaxy", "--runs", str(vii), "--out", str(out_all)]) == 0
    assert f"Base runs read from {base}" in capsys.readouterr().err
    csv = pd.read_csv(out_all / "table_vii.csv", comment="#", index_col=0)
    assert csv.loc["Base", "ResNet-20 max train acc (ours)"] == "90.50% ± 0.71 (n=2)"
    assert not (out_all / "figure_3.png").exists()


def test_cli_bad_input_names_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no_such_multirun"
    assert main(["deepeutaxy", "--runs", str(missing), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "does not exist" in err and "run.json" in err
    (tmp_path / "empty").mkdir()
    assert main(["deepeutaxy", "--runs", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "holds no run folders" in capsys.readouterr().err


def test_code_train_measure_uses_fit_history_for_de_only(tmp_path):
    """--train-measure code: DE's train accuracy is the training-mode running mean, BL's the eval pass."""
    import json

    import pandas as pd

    for strategy, target in (
        ("bl", "trainfix.strategies.baseline.Baseline"),
        ("de", "trainfix.strategies.deepeutaxy.DeepEutaxy"),
    ):
        folder = tmp_path / f"lenet5_{strategy}_seed0"
        folder.mkdir()
        config = {
            "model": {"name": "lenet5"},
            "strategy": {"_target_": target, "variant": "authors_code"},
            "experiment_row": "lenet5",
        }
        (folder / "run.json").write_text(json.dumps({"status": "finished", "seed": 0, "config": config}))
        pd.DataFrame(
            {
                "epoch": [0],
                "train_acc": [0.5],
                "train_eval_acc": [0.9],
                "train_loss": [1.0],
                "train_eval_loss": [0.3],
                "test_acc": [0.8],
                "grad_norm_last": [1.0],
                "samples_seen": [10],
            }
        ).to_csv(folder / "metrics.csv", index=False)
    same = collect_de_runs(tmp_path).epochs.set_index("strategy")["train_acc_used"]
    code = collect_de_runs(tmp_path, "code").epochs.set_index("strategy")["train_acc_used"]
    assert same.to_dict() == {"BL": 0.9, "DE": 0.9}
    assert code.to_dict() == {"BL": 0.9, "DE": 0.5}


def test_table_vii_with_variant_reads_base_runs_from_another_folder(table_vii_runs: tuple[Path, Path]) -> None:
    """Regression: `variant=` must not refuse the Base role because the Table VII folder holds none."""
    import json

    vii, base = table_vii_runs
    for path in [*vii.glob("*/run.json"), *base.glob("*/run.json")]:
        record = json.loads(path.read_text())
        record["config"].setdefault("strategy", {})["variant"] = "paper"
        path.write_text(json.dumps(record))
    table = build_table("vii", collect_runs(vii), collect_runs(base), variant="paper")
    assert table.loc["Base", ("ResNet-20 max train acc", "ours")] == "90.50% ± 0.71 (n=2)"
    with pytest.raises(ValueError, match="no run has it"):
        build_table("vii", collect_runs(vii), collect_runs(base), variant="authors_code")


# --------------------------------------------------------------------------- fidelity fixes (issue 8)
def spl_spurious_runs(root: Path) -> Path:
    """LeNet-5 SPL seed 0 whose last-step norm meets Eq. 12 at index 1 with 0.2% of the samples
    selected (the masked loss divided by the batch size: a tiny gradient), while the full-set
    gradient meets it only at index 4 with every sample in play; BL seed 0 with both readings."""
    n = 6
    spl = metrics([0.10, 0.10, 0.30, 0.60, 0.90, 0.95], [0.10, 0.10, 0.30, 0.60, 0.88, 0.90], norms(n, 1, 4))
    spl["spl_selected_frac"] = [0.0005, 0.002, 0.3, 0.8, 1.0, 1.0]
    spl["grad_norm_full"] = norms(n, 4)
    write_run(root, "lenet5_spl_0", "lenet5", "SPL", 0, frame=spl)
    bl = metrics([0.50, 0.70, 0.80, 0.90, 0.95, 0.96], [0.50, 0.70, 0.80, 0.88, 0.90, 0.91], norms(n, 2))
    bl["grad_norm_full"] = norms(n, 3)
    write_run(root, "lenet5_bl_0", "lenet5", "BL", 0, frame=bl)
    return root


def test_full_reading_is_the_default_when_recorded_and_spl_selection_is_shown(tmp_path: Path) -> None:
    runs = collect_runs(spl_spurious_runs(tmp_path / "runs"))
    table = build_table("iv", runs)  # convergence="auto" -> full (every run recorded grad_norm_full)
    lenet = table.loc["LeNet-5"]
    assert lenet[("SPL epochs to converge", "ours")] == "5 (n=1)"  # index 4: the whole training set in play
    assert lenet[("SPL train acc", "ours")] == "90.00% (n=1)"
    assert lenet[("SPL selected at convergence", "ours")] == "100.00% (n=1)"
    assert lenet[("SPL selected at convergence", "paper")] == "not in paper"
    assert lenet[("BL epochs to converge", "ours")] == "4 (n=1)"
    caption = "\n".join(table.attrs["caption"])
    assert "reading 'full' (auto: every finished run recorded grad_norm_full)" in caption
    assert "LeNet-5 SPL: last 2 (n=1), mean not converged, full 5 (n=1)" in caption  # both readings shown
    assert "LeNet-5 BL: last 3 (n=1), mean not converged, full 4 (n=1)" in caption

    spurious = build_table("iv", runs, convergence="last").loc["LeNet-5"]
    # the spurious reading: 0.2% selected, 10% accuracy
    assert spurious[("SPL epochs to converge", "ours")] == "2 (n=1)"
    assert spurious[("SPL train acc", "ours")] == "10.00% (n=1)"
    assert spurious[("SPL selected at convergence", "ours")] == "0.20% (n=1)"


def dead_seed_runs(root: Path) -> Path:
    """spl_spurious_runs plus LeNet-5 BL seed 1, a network that died in epoch 1 (constant output: the
    class prior, train 11.24 %, test 11.35 % for all 6 epochs) with a tiny full-set gradient: Eq. 12
    holds at its first epoch."""
    spl_spurious_runs(root)
    dead = metrics([0.1124] * 6, [0.1135] * 6, norms(6))
    dead["grad_norm_full"] = norms(6, 0, 1, 2, 3, 4, 5)
    write_run(root, "lenet5_bl_1", "lenet5", "BL", 1, frame=dead)
    return root


def test_a_seed_at_chance_level_is_excluded_by_default_and_named(tmp_path: Path) -> None:
    """A dead network does not count (as a diverged run), the cells say so, the captions name it;
    `chance_level="count"` counts it as the paper's averaging read literally would (Eq. 12 holds at
    epoch 1), and Table IV's caption then names that convergence."""
    runs = collect_runs(dead_seed_runs(tmp_path / "runs"))
    table = build_table("iv", runs)
    lenet = table.loc["LeNet-5"]
    assert lenet[("BL epochs to converge", "ours")] == "4 (1/2; 1 chance level)"
    assert lenet[("BL train acc", "ours")] == "90.00% (1/2; 1 chance level)"
    assert lenet[("SPL epochs to converge", "ours")] == "5 (1/2; 1 missing)"  # SPL starts at 10 % but learns: counted
    caption = "\n".join(table.attrs["caption"])
    assert "At chance level" in caption and "excluded from the cells" in caption
    assert "LeNet-5 BL seed 1 (max train 11.24%)" in caption and "SPL seed 0" not in caption
    assert "Eq. 12 met at chance level" not in caption  # the seed is not counted

    counted = build_table("iv", runs, chance_level="count")
    assert counted.loc["LeNet-5", ("BL epochs to converge", "ours")] == "2.5 ± 2.12 (n=2)"  # (4 + 1) / 2
    caption = "\n".join(counted.attrs["caption"])
    assert "counted in the cells as any finished run" in caption
    assert (
        "Eq. 12 met at chance level" in caption and "LeNet-5 BL seed 1: epoch 1, train 11.24%, test 11.35%" in caption
    )
    assert "seed 0" not in caption.split("Eq. 12 met at chance level")[1]  # BL seed 0 converged at 90 %: not named

    # Table V: BL's level is seed 0's maximum alone (96 %), not (96 + 11.24) / 2 = 53.62 %.
    table_v = build_table("v", runs).loc["LeNet-5"]
    assert table_v[("BL max train acc", "ours")] == "96.00% (1/2; 1 chance level)"
    assert (
        table_v[("SPL same level as BL (B)", "ours")] == "1 not reached, 1 missing"
    )  # SPL seed 0 tops out at 95 % < 96 %
    counted_v = build_table("v", runs, chance_level="count")
    assert counted_v.loc["LeNet-5", ("BL max train acc", "ours")] == "53.62% ± 59.93 (n=2)"
    assert "53.62%" not in "\n".join(build_table("v", runs).attrs["caption"])

    # Figure 3 averages the counted seeds only.
    curves = figure_3_curves(runs)
    bl = curves[(curves["strategy"] == "BL") & (curves["metric"] == "train_acc_used")]
    assert bl["seeds"].tolist() == [1] * 6 and bl["mean"].tolist()[-1] == pytest.approx(96.0)
    curves = figure_3_curves(runs, chance_level="count")
    bl = curves[(curves["strategy"] == "BL") & (curves["metric"] == "train_acc_used")]
    assert bl["seeds"].tolist() == [2] * 6 and bl["mean"].tolist()[-1] == pytest.approx((96.0 + 11.24) / 2)
    figure = figure_3(runs)
    assert [ax.get_yscale() for ax in figure.axes] == ["linear", "log", "linear", "log"]  # losses > 0: log scale
    title = figure._suptitle.get_text()  # one line in the image; the caption goes to the report and the PNG's metadata
    assert title.startswith("Figure 3 (DeepEutaxy): train/test accuracy") and "\n" not in title and len(title) < 160
    caption = " ".join(figure_3_caption(runs))
    assert "LeNet-5 BL seed 1 (max train 11.24%)" in caption and "excluded from the curves" in caption

    clean = "\n".join(build_table("iv", collect_runs(spl_spurious_runs(tmp_path / "clean"))).attrs["caption"])
    assert "chance level" not in clean
    # At chance but still learning (a short run, the gradient large: Eq. 12 never met): not dead, counted.
    slow = spl_spurious_runs(tmp_path / "slow")
    learning = metrics([0.11, 0.12, 0.13, 0.14, 0.15, 0.16], [0.11] * 6, norms(6))
    learning["grad_norm_full"] = norms(6)
    write_run(slow, "lenet5_bl_1", "lenet5", "BL", 1, frame=learning)
    slow_table = build_table("iv", collect_runs(slow))
    assert slow_table.loc["LeNet-5", ("BL epochs to converge", "ours")] == "4 (1/2; 1 not converged)"
    assert slow_table.loc["LeNet-5", ("BL train acc", "ours")] == "53.00% ± 52.33 (n=2)"  # (0.90 + 0.16) / 2 * 100
    assert "At chance level" not in "\n".join(slow_table.attrs["caption"])
    with pytest.raises(ValueError, match="chance_level='drop' is not accepted; use one of \\['exclude', 'count'\\]"):
        build_table("iv", runs, chance_level="drop")


def test_per_seed_table_against_hand_computed_cells(tmp_path: Path) -> None:
    root = dead_seed_runs(tmp_path / "runs")
    write_run(
        root, "lenet5_de_0", "lenet5", "DE", 0, status="running", frame=metrics([0.50, 0.97], [0.50, 0.92], norms(2, 1))
    )  # unfinished: shown so far, not counted
    seeds = seed_values(collect_runs(root)).set_index(["Strategy", "Seed"])
    bl0 = seeds.loc[("BL", 0)]
    assert bl0["status"] == "finished" and bl0["epochs"] == "6"
    assert (bl0["Eq. 12 epoch (full)"], bl0["Eq. 12 epoch (last)"], bl0["Eq. 12 epoch (mean)"]) == ("4", "3", "never")
    assert (bl0["train acc at Eq. 12"], bl0["test acc at Eq. 12"]) == ("90.00%", "88.00%")  # index 3, reading full
    assert (bl0["max train acc (epoch)"], bl0["max test acc (epoch)"]) == ("96.00% (6)", "91.00% (6)")
    # BL's levels = seed 0's maxima (seed 1 is at chance level and excluded): 96 % and 91 %.
    assert (bl0["first epoch at BL's train level"], bl0["first epoch at BL's test level"]) == ("6", "6")
    assert bl0["min full-set grad norm (epoch)"] == "0.005 (4)" and bl0["note"] == "-"
    assert seeds.loc[("BL", 1), "note"] == "at chance level: excluded from the tables"
    spl = seeds.loc[("SPL", 0)]
    assert (spl["Eq. 12 epoch (full)"], spl["Eq. 12 epoch (last)"]) == ("5", "2")
    assert (spl["train acc at Eq. 12"], spl["SPL selected at Eq. 12"]) == ("90.00%", "100.00%")
    assert (spl["first epoch at BL's train level"], spl["first epoch at BL's test level"]) == (
        "not reached",
        "not reached",
    )
    de = seeds.loc[("DE", 0)]
    assert de["status"] == "running (epoch 2 so far)" and de["max train acc (epoch)"] == "97.00% (2)"
    assert de["first epoch at BL's train level"] == "2"  # 97 % >= 96 %
    assert seeds.loc[("SPL", 1), "status"] == "missing"
    counted = seed_values(collect_runs(root), chance_level="count").set_index(["Strategy", "Seed"])
    assert counted.loc[("BL", 1), "note"] == "at chance level: counted in the tables"
    assert (
        counted.loc[("BL", 0), "first epoch at BL's train level"] == "2"
    )  # level (96 + 11.24) / 2 = 53.62 %: 70 % at epoch 2


def test_auto_reading_falls_back_to_last_without_grad_norm_full(multirun: Path) -> None:
    caption = "\n".join(build_table("iv", collect_runs(multirun)).attrs["caption"])
    assert (
        "reading 'last' (auto: grad_norm_full recorded by 0 of 6 finished runs (convergence.full_gradient=false))"
        in caption
    )


def test_tables_v_vi_captions_state_averaging_and_seeds_reaching_bl(multirun: Path) -> None:
    caption = "\n".join(build_table("v", collect_runs(multirun)).attrs["caption"])
    assert "BL's level = the mean over BL seeds of each seed's maximum train accuracy" in caption
    assert "over the seeds that reach that level" in caption
    assert "CNN1 SPL (B): 0 of 2 seeds reached BL's level 95.00% (2 not reached)." in caption
    assert (
        "CNN1 DE (C): 1 of 2 seeds reached BL's level 95.00% (1 diverged)." in caption
    )  # why the other seed has no number
    caption = "\n".join(build_table("vi", collect_runs(multirun)).attrs["caption"])
    assert "maximum test accuracy" in caption and "CNN1 SPL (B): 2 of 2 seeds reached BL's level 81.00%." in caption


def test_code_train_measure_covers_table_vii_spl_and_flags_the_authors_de_row(
    table_vii_runs: tuple[Path, Path],
) -> None:
    """The code continues SPL with SPL+DE.py -u 0 (fit history); Base (SPL.py) used evaluate; the
    code has no DE continuation, so the authors_code DE row is flagged."""
    vii, base = table_vii_runs
    assert "DE" in build_table("vii", collect_runs(vii), collect_runs(base)).index  # variant paper: not flagged
    for path in [*vii.glob("*/run.json"), *base.glob("*/run.json")]:
        record = json.loads(path.read_text())
        record["config"]["strategy"]["variant"] = "authors_code"
        path.write_text(json.dumps(record))
    code_vii, code_base = collect_de_runs(vii, "code"), collect_de_runs(base, "code")
    columns = dict(zip(code_vii.runs["run_id"], code_vii.runs["train_acc_column"]))
    assert columns["spl_0"] == columns["spl_1"] == "train_acc"  # fit history (SPL+DE.py -u 0)
    assert columns["de_0"] == columns["spl_de_0"] == "train_acc"
    base_columns = dict(zip(code_base.runs["run_id"], code_base.runs["train_acc_column"]))
    assert base_columns["r20_spl_0"] == "train_eval_acc"  # SPL.py: model.evaluate after each epoch
    assert set(collect_runs(vii).runs["train_acc_column"].dropna()) == {"train_eval_acc"}  # "same": eval pass for all

    table = build_table("vii", code_vii, code_base)
    assert "DE (no counterpart in the code)" in table.index
    assert table.loc["SPL", ("ResNet-20 max train acc", "ours")] == "82.00% ± 0.00 (n=2)"  # fit history: 0.92 - 0.1
    assert any("no DE continuation for Table VII" in line for line in table.attrs["caption"])


def test_a_cell_refuses_seeds_of_different_configurations(
    multirun: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The protocol check covers the training recipe; a strategy option is not part of it, so two
    finished seeds of one cell that differ in one (here SPL's lambda0) must not be averaged."""
    before = build_table("iv", collect_runs(multirun)).loc["CNN1", ("SPL test acc", "ours")]

    def set_lambda0(run: str, value: float) -> None:
        path = multirun / run / "run.json"
        record = json.loads(path.read_text())
        record["config"]["strategy"]["lambda0"] = value
        path.write_text(json.dumps(record))

    # A key only one run recorded (added by a later version of the code) is not compared.
    set_lambda0("cnn1_spl_1", 0.5)
    assert build_table("iv", collect_runs(multirun)).loc["CNN1", ("SPL test acc", "ours")] == before
    set_lambda0("cnn1_spl_0", 0.25)
    with pytest.raises(
        ValueError,
        match=r"row cnn1, SPL: finished runs under .* differ in 1 key\(s\) besides the seed "
        r"\(strategy\.lambda0: 0\.25 \(cnn1_spl_0\) vs 0\.5 \(cnn1_spl_1\)\)",
    ):
        build_table("iv", collect_runs(multirun))
    with pytest.raises(ValueError, match="strategy.lambda0"):
        build_table("v", collect_runs(multirun))
    assert main(["deepeutaxy", "--runs", str(multirun), "--out", str(tmp_path / "o")]) == 2
    assert "one configuration per cell" in capsys.readouterr().err
    # Other cells' runs may differ from these: only seeds of one cell are compared.
    set_lambda0("cnn1_spl_0", 0.5)
    assert build_table("iv", collect_runs(multirun)).loc["CNN1", ("SPL test acc", "ours")] == before


def test_a_key_added_since_is_compared_at_what_older_runs_did(multirun: Path) -> None:
    """A record without optimizer.initial_accumulator_value ran Adagrad from 0 (trainfix.runs.identity.PAST_VALUES):
    a seed recorded at 0 joins it, a seed at 0.1 (tf.keras' start) is another configuration."""
    before = build_table("iv", collect_runs(multirun)).loc["CNN1", ("SPL test acc", "ours")]
    path = multirun / "cnn1_spl_1" / "run.json"
    record = json.loads(path.read_text())
    assert "initial_accumulator_value" not in record["config"].setdefault("optimizer", {})
    for value in (0.0, 0.1):
        record["config"]["optimizer"]["initial_accumulator_value"] = value
        path.write_text(json.dumps(record))
        if value == 0.0:
            assert build_table("iv", collect_runs(multirun)).loc["CNN1", ("SPL test acc", "ours")] == before
    with pytest.raises(
        ValueError,
        match=r"row cnn1, SPL: .*optimizer\.initial_accumulator_value: 0 \(cnn1_spl_0\) vs 0\.1 \(cnn1_spl_1\)",
    ):
        build_table("iv", collect_runs(multirun))
