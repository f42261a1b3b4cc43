"""Mini-batch trimming Table 1 from hand-made run folders, checked against hand-computed cells.
The runs (final test_acc as fractions):
  resnet34 cifar10_jpeg  off: seeds 0, 1 finished at 0.80 and 0.84  -> 18.00 ± 2.83 (n=2), diff +0.57 vs 17.43
                         on:  seed 0 finished at 0.83, seed 1 still running -> 17.00 (n=1; 1 not finished), diff -0.01
  resnet34 svhn          off/on: data missing (run.json only, DatasetMissingError)
  resnet34 cifar100      no run folder: not run
  densenet121            no runs: its paper cells are not listed
  lenet5 fashion_mnist   off: seed 0 failed; on: seed 0 finished at 0.90 -> not in the paper
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from trainfix.papers.published import load_paper
from trainfix.papers.trimming import table_1, table_1_values
from trainfix.results.__main__ import main
from trainfix.results.collect import collect_runs

TARGETS = {"off": "trainfix.strategies.shuffle.Shuffle", "on": "trainfix.strategies.trimming.Trimming"}
LABELS = {"cifar10_jpeg": "CIFAR-10 (lossy JPEG copy, not the official files)", "fashion_mnist": "Fashion-MNIST"}


def write_run(
    root: Path,
    model: str,
    dataset: str,
    arm: str,
    seed: int,
    status: str = "finished",
    test_acc: list[float] | None = None,
    error: str | None = None,
    profile: str = "quick",
) -> None:
    folder = root / f"{model}_{dataset}_{arm}_seed{seed}_{profile}"
    folder.mkdir(parents=True)
    config = {
        "seed": seed,
        "profile_name": profile,
        "experiment_row": model,
        "model": {"name": model},
        "data": {"dataset": dataset},
        "strategy": {"_target_": TARGETS[arm], "variant": "paper"},
    }
    record = {"status": status, "seed": seed, "config": config, "host": {"device": "cpu"}, "error": error}
    if test_acc is not None:
        record["data"] = {"label": LABELS[dataset], "official": False, "num_train": 50000, "num_classes": 10}
        n = len(test_acc)
        pd.DataFrame(
            {
                "epoch": range(n),
                "train_loss": [2.0 - i * 0.1 for i in range(n)],
                "train_acc": 0.5,
                "test_loss": 1.0,
                "test_acc": test_acc,
                "trim_r": [128, 26][:n],
            }
        ).to_csv(folder / "metrics.csv", index=False)
    (folder / "run.json").write_text(json.dumps(record))


@pytest.fixture
def multirun(tmp_path: Path) -> Path:
    root = tmp_path / "trimming_table_1_quick"
    write_run(root, "resnet34", "cifar10_jpeg", "off", 0, test_acc=[0.5, 0.80])
    write_run(root, "resnet34", "cifar10_jpeg", "off", 1, test_acc=[0.6, 0.84])
    write_run(root, "resnet34", "cifar10_jpeg", "on", 0, test_acc=[0.5, 0.83])
    write_run(root, "resnet34", "cifar10_jpeg", "on", 1, status="running", test_acc=[0.4])
    missing = "DatasetMissingError: SVHN not found: expected /data/train_32x32.mat"
    for arm in ("off", "on"):
        write_run(root, "resnet34", "svhn", arm, 0, status="failed", error=missing)
    write_run(root, "lenet5", "fashion_mnist", "off", 0, status="failed", error="RuntimeError: boom", test_acc=[0.7])
    write_run(root, "lenet5", "fashion_mnist", "on", 0, test_acc=[0.8, 0.90])
    return root


def cell(values: pd.DataFrame, dataset: str, row: str, arm: str) -> pd.Series:
    match = values[(values["dataset"] == dataset) & (values["row"] == row) & (values["arm"] == arm)]
    assert len(match) == 1, (dataset, row, arm)
    return match.iloc[0]


def test_paper_numbers_file():
    paper = load_paper("trimming_table_1")
    assert paper["test_error"]["cifar10"]["resnet34"] == {"off": 17.43, "on": 17.01}
    assert paper["test_error"]["cifar100"]["densenet121"] == {"off": 32.95, "on": 32.18}
    assert paper["test_error"]["svhn"]["densenet121"] == {"off": 4.62, "on": 4.42}


def test_cells_against_hand_computation(multirun: Path):
    values = table_1_values(collect_runs(multirun))
    off = cell(values, "cifar10_jpeg", "resnet34", "off")
    assert off["ours_mean"] == pytest.approx(18.0)
    assert off["ours_std"] == pytest.approx(math.sqrt(((20 - 18) ** 2 + (16 - 18) ** 2) / 1))  # 2.83, ddof 1
    assert off["ours"] == "18.00 ± 2.83 (n=2)" and off["paper"] == 17.43
    assert off["diff"] == pytest.approx(0.57)
    on = cell(values, "cifar10_jpeg", "resnet34", "on")
    assert on["ours"] == "17.00 (n=1; 1 not finished)" and on["diff"] == pytest.approx(-0.01)
    # on - off = 17 - 18: one "on" seed gives no interval; the "off" row carries no difference
    assert on["vs_text"] == "-1.00 (no interval: n < 2)" and on["vs_off_diff"] == pytest.approx(-1.0)
    assert math.isnan(on["vs_off_ci_low"]) and off["vs_text"] == "" and math.isnan(off["vs_off_diff"])
    for arm in ("off", "on"):
        assert cell(values, "svhn", "resnet34", arm)["ours"] == "data missing"
        assert cell(values, "cifar100", "resnet34", arm)["ours"] == "not run"
        assert cell(values, "cifar100", "resnet34", arm)["paper"] == {"off": 48.19, "on": 47.72}[arm]
    assert cell(values, "fashion_mnist", "lenet5", "off")["ours"] == "failed"
    lenet_on = cell(values, "fashion_mnist", "lenet5", "on")
    assert lenet_on["ours"] == "10.00 (n=1)" and math.isnan(lenet_on["paper"])
    assert "densenet121" not in set(values["row"])
    table = table_1(values)
    assert list(table.index) == [
        "SVHN / ResNet-34",
        "CIFAR-10 (lossy JPEG copy, not the official files) / ResNet-34",
        "CIFAR-100 / ResNet-34",
        "Fashion-MNIST / lenet5",
    ]  # not a paper row: the model name
    assert table.loc["Fashion-MNIST / lenet5", ("trimming on", "paper")] == "not in paper"
    assert table.loc["SVHN / ResNet-34", ("trimming off", "ours")] == "data missing"
    jpeg = "CIFAR-10 (lossy JPEG copy, not the official files) / ResNet-34"
    assert table.loc[jpeg, ("trimming on", "vs off")] == "-1.00 (no interval: n < 2)"
    assert table.loc["SVHN / ResNet-34", ("trimming on", "vs off")] == "n/a"
    assert ("trimming off", "vs off") not in table.columns
    assert any("95 % Welch t interval over seeds (n per arm as shown)" in line for line in table.attrs["caption"])


def test_command_writes_tables_figure_report_and_strict_exit(multirun: Path, tmp_path: Path, capsys):
    """One call with --strict: everything is written, then the failed lenet5 cell (not data missing) makes it exit 1."""
    out = tmp_path / "out"
    assert main(["trimming", "--runs", str(multirun), "--out", str(out), "--strict"]) == 1
    assert "fashion_mnist/lenet5/off: failed" in capsys.readouterr().err
    for name in ("table_1.md", "table_1.csv", "table_1.tex", "table_1_values.csv", "figure_curves.png", "report.html"):
        assert (out / name).stat().st_size > 0, name
    markdown = (out / "table_1.md").read_text()
    assert "| 17.43" in markdown and "18.00 ± 2.83 (n=2)" in markdown and "data missing" in markdown
    csv = pd.read_csv(out / "table_1.csv", comment="#", index_col=0)
    assert csv.loc["CIFAR-100 / ResNet-34", "trimming on (paper)"] == "47.72"
    page = (out / "report.html").read_text()
    assert "data missing" in page and "<h1>Mini-batch trimming reproduction: Table 1 and learning curves</h1>" in page
    assert '<p class="caption">Final test error (%) per data set and network, trimming off / on: paper' in page
    assert "<figcaption>Learning curves (figure_curves.png): test error, training loss and r per epoch" in page


def test_a_cell_refuses_runs_of_two_configurations(multirun: Path, tmp_path: Path, capsys):
    # A full-profile run dropped into the quick sweep's folder would be averaged with the quick seeds: refused, named.
    write_run(multirun, "resnet34", "cifar10_jpeg", "off", 2, test_acc=[0.7, 0.9], profile="full")
    assert main(["trimming", "--runs", str(multirun), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "Trimming Table 1, resnet34 on cifar10_jpeg, trimming off" in err
    assert (
        "profile_name: quick (resnet34_cifar10_jpeg_off_seed0_quick) vs full (resnet34_cifar10_jpeg_off_seed2_full)"
        in err
    )


@pytest.mark.parametrize("model,profile", [("resnet34", "full"), ("densenet121", "full"), ("resnet34", "quick")])
def test_table_1_experiments_pin_the_paper_setting(model, profile, tmp_path):
    """Adam 1e-3 with coupled weight decay 1e-4, batch 128, 150 epochs, lr x0.5 at 50 and 100; quick shrinks
    data and epochs."""
    from omegaconf import OmegaConf

    from trainfix.training.compose import compose_config
    from trainfix.training.config_rules import check_config

    cfg = compose_config(
        [f"experiment=trimming/table_1/{model}", f"profile={profile}", "data=svhn", "strategy=trimming", "seed=4"],
        tmp_path,
    )
    check_config(cfg)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert resolved["run_name"] == f"{model}_svhn_trimming_paper_seed4"
    assert resolved["task_name"] == f"trimming_table_1_{profile}"
    assert resolved["model"]["name"] == model and resolved["data"]["dataset"] == "svhn"
    assert resolved["optimizer"] == {
        "_target_": "torch.optim.Adam",
        "_partial_": True,
        "lr": 0.001,
        "weight_decay": 1.0e-4,
    }
    assert (
        resolved["scheduler"]["scheduler"]["milestones"] == [50, 100]
        and resolved["scheduler"]["scheduler"]["gamma"] == 0.5
    )
    assert resolved["scheduler"]["interval"] == "epoch"
    assert (
        resolved["strategy"]["p_start"] == 1.0
        and resolved["strategy"]["p_end"] == 0.2
        and resolved["strategy"]["per"] == "epoch"
    )
    expected = {"full": (128, 150, None), "quick": (32, 2, 64)}[profile]
    assert (
        resolved["data"]["batch_size"],
        resolved["trainer"]["max_epochs"],
        resolved["data"]["train_subset"],
    ) == expected
