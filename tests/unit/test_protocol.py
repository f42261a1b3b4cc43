"""DeepEutaxy tables leave out runs whose protocol is not their experiment's (or count them, labelled).

Hand-made Table IV runs of row lenet5, final train_eval_acc / test_acc:
  BL seed 0   profile quick, on protocol (conf/experiment/deepeutaxy/table_iv/lenet5.yaml under profile=quick:
              10 epochs, all 60,000/10,000 samples, batch 1000, Adagrad lr 0.1) -> 0.90 / 0.80
  BL seed 1   an ad-hoc run: experiment_row=lenet5, profile full, but 2 epochs of batch 250
              (full = 200 epochs of batch 1000 on all data)                   -> 0.50 / 0.40
  BL seed 7   the same kind of ad-hoc run, a seed no on-protocol run has      -> 0.60 / 0.50
  SPL seeds 0, 1 on protocol                                                  -> 0.70 / 0.60
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from trainfix.papers.deepeutaxy import table_iv_values
from trainfix.papers.deepeutaxy_runs import OFF_PROTOCOL, check_protocol, protocol_differences
from trainfix.results.__main__ import main
from trainfix.results.collect import collect_runs

ADAGRAD = {
    "_partial_": True,
    "_target_": "torch.optim.Adagrad",
    "eps": 1e-06,
    "lr": 0.1,
    "lr_decay": 0.0005,
    "weight_decay": 0.0,
}

# conf/experiment/deepeutaxy/table_iv/lenet5.yaml's `quick` block: epochs, train and test subsets (None: all), batch
QUICK = (10, None, None, 1000)


def lenet5_config(
    seed: int, profile: str, epochs: int, train_subset: int | None, test_subset: int | None, batch: int
) -> dict:
    return {
        "seed": seed,
        "profile_name": profile,
        "variant": "paper",
        "experiment_row": "lenet5",
        "model": {"name": "lenet5", "params": {}},
        "optimizer": dict(ADAGRAD),
        "scheduler": {"scheduler": None, "interval": "step"},
        "strategy": {"_target_": "trainfix.strategies.baseline.Baseline", "variant": "paper"},
        "trainer": {"max_epochs": epochs},
        "data": {
            "batch_size": batch,
            "train_subset": train_subset,
            "test_subset": test_subset,
            "normalize": False,
            "augment": {"crop_padding": 0, "flip": False},
        },
        "convergence": {"epsilon": 0.01},
    }


def write(
    root: Path, name: str, config: dict, final: tuple[float, float], epochs: int, strategy: str = "Baseline"
) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    module = "baseline" if strategy == "Baseline" else "spl"
    config["strategy"] = {"_target_": f"trainfix.strategies.{module}.{strategy}", "variant": "paper"}
    record = {
        "status": "finished",
        "seed": config["seed"],
        "config": config,
        "data": {"label": "MNIST", "official": True, "num_classes": 10},
        "host": {"device": "cpu"},
    }
    (folder / "run.json").write_text(json.dumps(record))
    train, test = final
    pd.DataFrame(
        {
            "epoch": range(epochs),
            "train_acc": [train] * epochs,
            "train_eval_acc": [train] * epochs,
            "test_acc": [test] * epochs,
            "train_loss": 0.5,
            "test_loss": 0.6,
            "grad_norm_last": 0.5,
            "grad_norm_mean": 0.5,
            "samples_seen": [2000 * (i + 1) for i in range(epochs)],
        }
    ).to_csv(folder / "metrics.csv", index=False)


@pytest.fixture
def runs_folder(tmp_path: Path) -> Path:
    root = tmp_path / "multirun" / "deepeutaxy_table_iv_quick"
    write(root, "lenet5_baseline_paper_seed0", lenet5_config(0, "quick", *QUICK), (0.90, 0.80), 5)
    write(root, "adhoc_seed1", lenet5_config(1, "full", 2, None, None, 250), (0.50, 0.40), 2)
    write(root, "adhoc_seed7", lenet5_config(7, "full", 2, None, None, 250), (0.60, 0.50), 2)
    for seed in (0, 1):
        write(
            root,
            f"lenet5_spl_paper_seed{seed}",
            lenet5_config(seed, "quick", *QUICK),
            (0.70, 0.60),
            5,
            "SelfPaced",
        )
    return root


def test_protocol_differences_name_key_value_and_experiment() -> None:
    assert protocol_differences(lenet5_config(0, "quick", *QUICK), "lenet5", None) == []
    reasons = protocol_differences(lenet5_config(1, "full", 2, None, None, 250), "lenet5", None)
    assert reasons == [
        "vs deepeutaxy/table_iv/lenet5 profile=full: data.batch_size=250 (experiment: 1000)",
        "trainer.max_epochs=2 (experiment: 200)",
    ]
    assert protocol_differences(lenet5_config(0, "quick", *QUICK), "mlp", None) == [
        "no experiment deepeutaxy/table_iv/mlp (conf/experiment/deepeutaxy/table_iv/mlp.yaml)"
    ]
    assert protocol_differences({**lenet5_config(0, "quick", *QUICK), "profile_name": "fast"}, "lenet5", None) == [
        "profile 'fast' is not one of ['full', 'quick']"
    ]


def test_adagrads_starting_accumulator_is_part_of_the_protocol_per_variant() -> None:
    """authors_code runs Adagrad from 0.1 (tf.keras), paper from 0 (Keras 2.3.1). A record written before
    the key was in conf/ (ADAGRAD here has none) ran torch's 0: on protocol for paper, off for authors_code."""
    old_record = lenet5_config(0, "quick", *QUICK)
    assert "initial_accumulator_value" not in old_record["optimizer"]
    assert protocol_differences(old_record, "lenet5", None) == []
    code = {**old_record, "variant": "authors_code"}
    assert protocol_differences(code, "lenet5", None) == [
        "vs deepeutaxy/table_iv/lenet5 profile=quick: optimizer.initial_accumulator_value=0.0 (experiment: 0.1)"
    ]
    assert (
        protocol_differences({**code, "optimizer": {**ADAGRAD, "initial_accumulator_value": 0.1}}, "lenet5", None) == []
    )
    assert protocol_differences(
        {**old_record, "optimizer": {**ADAGRAD, "initial_accumulator_value": 0.1}}, "lenet5", None
    ) == ["vs deepeutaxy/table_iv/lenet5 profile=quick: optimizer.initial_accumulator_value=0.1 (experiment: 0.0)"]


def test_off_protocol_run_is_not_counted(runs_folder: Path) -> None:
    checked = check_protocol(collect_runs(runs_folder))
    status = checked.runs.set_index("run_id")["status"]
    assert status.to_dict() == {
        "adhoc_seed1": OFF_PROTOCOL,
        "adhoc_seed7": OFF_PROTOCOL,
        "lenet5_baseline_paper_seed0": "finished",
        "lenet5_spl_paper_seed0": "finished",
        "lenet5_spl_paper_seed1": "finished",
    }
    values = table_iv_values(checked, rows=["lenet5"]).set_index("column")
    # Seeds expected: 0 and 1 (seed 7 is only in an off-protocol run, so it adds no "missing" to SPL's cells).
    assert values.loc["BL train acc", "ours_text"] == "90.00% (1/2; 1 off protocol)"  # not (90 + 50 + 60) / 3
    assert values.loc["BL test acc", "ours"] == pytest.approx(80.0)
    assert values.loc["SPL train acc", "ours_text"] == "70.00% ± 0.00 (n=2)"
    caption = " ".join(values.attrs["caption"])
    assert "Profile: full (off protocol, not counted), quick." in caption
    assert (
        "Off protocol: 2 run folder(s)" in caption
        and "adhoc_seed1: vs deepeutaxy/table_iv/lenet5 profile=full" in caption
    )
    # Unchecked, the ad-hoc runs would be averaged in; the one-configuration check refuses the cell instead.
    with pytest.raises(ValueError, match=r"row lenet5, BL: .*profile_name: quick .* vs full .*trainer\.max_epochs"):
        table_iv_values(collect_runs(runs_folder), rows=["lenet5"])


def test_cli_refuses_by_default_and_labels_when_allowed(runs_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["deepeutaxy", "--runs", str(runs_folder), "--out", str(out), "--table", "iv"]) == 0
    table = pd.read_csv(out / "table_iv.csv", comment="#", index_col=0)
    assert table.loc["LeNet-5", "BL train acc (ours)"] == "90.00% (1/2; 1 off protocol)"
    report = (out / "report.html").read_text()
    assert "trainer.max_epochs=2 (experiment: 200)" in report and ">off protocol</td>" in report

    allowed = tmp_path / "allowed"
    assert (
        main(["deepeutaxy", "--runs", str(runs_folder), "--out", str(allowed), "--table", "iv", "--allow-off-protocol"])
        == 0
    )
    table = pd.read_csv(allowed / "table_iv.csv", comment="#", index_col=0)
    assert table.loc["LeNet-5", "BL train acc (ours)"] == "66.67% ± 20.82 (n=3)"  # (90 + 50 + 60) / 3, labelled below
    assert table.loc["LeNet-5", "SPL train acc (ours)"] == "70.00% ± 0.00 (2/3; 1 missing)"
    text = (allowed / "table_iv.md").read_text()
    assert "Profile: full (off protocol), quick." in text and "are COUNTED, as --allow-off-protocol asked" in text
