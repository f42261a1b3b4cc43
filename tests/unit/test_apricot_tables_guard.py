"""Apricot's tables average runs of one configuration: input runs of a row, its rDLMs (window aside) and
the adaptation passes of one Table V cell must not differ in a setting besides the seed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainfix.papers.apricot import collect


def write_run(root: Path, name: str, role: str, seed: int, start: int | None = None, lr: float = 0.001) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    config = {
        "seed": seed,
        "apricot_role": role,
        "experiment_row": "cnn1",
        "run_name": name,
        "model": {"name": "apricot_cnn1"},
        "optimizer": {"lr": lr},
        "trainer": {"max_epochs": 20},
        "data": {"train_window": {"start": start, "size": 10000 if start is not None else None}},
    }
    (folder / "run.json").write_text(json.dumps({"status": "finished", "seed": seed, "config": config}))
    (folder / "metrics.csv").write_text("epoch,test_acc,epoch_time_s,eval_time_s\n0,0.5,1.0,0.1\n1,0.6,1.0,0.1\n")


def write_pass(root: Path, name: str, model_seed: int, r: float = 0.001) -> None:
    folder = root / "adapt" / name
    folder.mkdir(parents=True)
    identity = {
        "row": "cnn1",
        "model_seed": model_seed,
        "apricot_strategy": 1,
        "direction": "toward",
        "r": r,
        "seed": model_seed,
        "retrain_epochs": 20,
        "input_run": f"cnn1_input_seed{model_seed}",
        "reduced_runs": [f"w{model_seed}"],
    }
    (folder / "config.json").write_text(json.dumps({"settings": identity, "identity": identity}))
    (folder / "result.json").write_text(
        json.dumps(
            {
                "row": "cnn1",
                "model_seed": model_seed,
                "strategy": 1,
                "direction": "toward",
                "r": r,
                "retrain_epochs": 20,
                "eval_on": "test",
                "batches_done": 3,
                "train_acc": 0.6,
                "test_acc": 0.61,
                "gain": 0.01,
            }
        )
    )


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    for seed in (0, 1):
        write_run(tmp_path, f"cnn1_input_seed{seed}", "input", seed)
        for start in (0, 2000):
            write_run(tmp_path, f"cnn1_reduced_w{start}_seed{seed}", "reduced", seed, start=start)
        write_pass(tmp_path, f"cnn1_seed{seed}_S1_toward", seed)
    return tmp_path


def test_one_configuration_per_cell_is_accepted(runs: Path) -> None:
    data = collect(runs)  # windows, seeds, model seeds and the runs a pass read differ by design
    assert len(data.runs) == 6 and len(data.adapt) == 2


def test_input_runs_of_a_row_must_share_the_recipe(runs: Path) -> None:
    write_run(runs, "cnn1_input_seed2", "input", 2, lr=0.01)
    with pytest.raises(
        ValueError, match=r"cnn1 input runs: .*optimizer\.lr: 0\.001 \(cnn1_input_seed0\) vs 0\.01 \(cnn1_input_seed2\)"
    ):
        collect(runs)


def test_reduced_runs_may_differ_in_their_window_only(runs: Path) -> None:
    write_run(runs, "cnn1_reduced_w4000_seed0", "reduced", 0, start=4000, lr=0.01)
    with pytest.raises(ValueError, match=r"cnn1 reduced runs: .*differ in 1 key\(s\) .*optimizer\.lr"):
        collect(runs)


def test_passes_of_one_table_v_cell_must_share_their_settings(runs: Path) -> None:
    write_pass(runs, "cnn1_seed2_S1_toward", 2, r=0.01)
    with pytest.raises(ValueError, match=r"Table V, cnn1 toward S1 passes: .*r: 0\.001 .* vs 0\.01"):
        collect(runs)


def test_table_ii_counts_the_weights_of_the_input_runs_own_network() -> None:
    """A row that is not the paper's (LeNet-5 on MNIST) is counted at its own model and image shape; a paper
    row without runs at CIFAR-10's. LeNet-5 by hand: conv 1->6 5x5 (156), conv 6->16 5x5 (2,416),
    256->120 (30,840), 120->84 (10,164), 84->10 (850)."""
    import pandas as pd

    from trainfix.procedures.apricot.tables import param_count as _param_count

    inputs = pd.DataFrame(
        [{"row": "lenet5_mnist", "config": {"model": {"name": "lenet5"}, "data": {"dataset": "mnist"}}}]
    )
    assert _param_count("lenet5_mnist", inputs) == f"{156 + 2416 + 30840 + 10164 + 850:,}"
    assert _param_count("cnn1", inputs) == "2,425,930"  # Table II's 2.43M
    assert _param_count("unknown_row", inputs) == "-"


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (lambda root: write_run(root, "cnn1_input_seed1-later", "input", 1), "input runs: 2 folders .* for seed 1:"),
        (
            lambda root: write_run(root, "cnn1_reduced_w2000_seed0-later", "reduced", 0, start=2000),
            "reduced runs: 2 folders .* for seed 0, window_start 2000:",
        ),
        (lambda root: write_pass(root, "cnn1_seed0_S1_toward-later", 0), "S1 passes: 2 folders .* for model_seed 0:"),
    ],
)
def test_a_seed_a_window_or_a_pass_recorded_twice_is_refused_not_counted_twice(runs: Path, extra, named) -> None:
    """A second record of one configuration (an earlier run's records copied beside a rerun's) would count its seed
    twice in a mean: the folders are named, and the user keeps one."""
    extra(runs)
    with pytest.raises(ValueError, match=named + ".*-later.*move all but one out of --runs"):
        collect(runs)
    write_run(runs, "cnn1_reduced_w4000_seed0", "reduced", 0, start=4000)  # another window is another rDLM
