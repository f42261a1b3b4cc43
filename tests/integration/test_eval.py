"""Evaluation, reuse and export of a finished tiny run (LeNet-5, 2 epochs on 1,800 real MNIST images).

The API (`trainfix.eval.evaluate`, `load_run`), `Classifier.load_from_checkpoint` and the exports give the
same network as the run. (`python -m trainfix.eval` reproducing the final test_acc exactly, CLI to CLI:
tests/system/test_eval_cli.py.)
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf, open_dict

from tests.conftest import compose_eval
from trainfix import load_run
from trainfix.eval import evaluate, main
from trainfix.evidence.copying import copy_records
from trainfix.models import MODELS, build_model, model_names
from trainfix.train import train
from trainfix.training.checkpoint import RunLoadError
from trainfix.training.compose import CONF_DIR, compose_config
from trainfix.training.export import export_network_onnx, load_exported
from trainfix.training.module import Classifier

# one xdist worker trains the module's run (run_dir) once for every test here
pytestmark = pytest.mark.xdist_group("eval_run")

TEST_SIZE = 500


def run_overrides(data_dir: Path) -> list[str]:
    return [
        f"paths.data_dir={data_dir}",
        "trainer.accelerator=cpu",
        "trainer.max_epochs=2",
        "trainer.enable_progress_bar=false",
        "data.train_subset=2000",
        f"data.test_subset={TEST_SIZE}",
        "data.val_fraction=0.1",
        "data.batch_size=250",
        "data.eval_batch_size=200",
        "optimizer=adam",
        "optimizer.lr=0.001",
    ]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, data_dir) -> Path:
    """A finished run with a validation split; its folder is shared by the tests (they only read it)."""
    folder = tmp_path_factory.mktemp("finished") / "run"
    train(compose_config(run_overrides(data_dir), folder))
    assert json.loads((folder / "run.json").read_text())["status"] == "finished"
    return folder


def last_row(run_dir: Path) -> dict[str, str]:
    """metrics.csv's last row as written (strings: the exact digits on disk)."""
    return pd.read_csv(run_dir / "metrics.csv", dtype=str).iloc[-1].to_dict()


def plain_accuracy(net: torch.nn.Module, datamodule, split: str) -> tuple[int, int]:
    """Correct predictions counted by a plain torch loop, independent of Lightning and torchmetrics."""
    images, labels = datamodule.on_device[split]
    correct = 0
    with torch.no_grad():
        for start in range(0, len(labels), 100):
            x, y = datamodule.gather(split, torch.arange(start, min(start + 100, len(labels))))
            correct += int((net(x).argmax(dim=1) == y).sum())
    return correct, len(labels)


def test_val_and_train_sets_match_the_record_and_a_plain_count(run_dir):
    record, run = evaluate(compose_eval(f"run_dir={run_dir}", "eval_set=val", "accelerator=cpu"))
    assert "%.8g" % record["metrics"]["val_acc"] == last_row(run_dir)["val_acc"] and record["num_samples"] == 200
    assert record["matches_recorded"] is True and (run_dir / "eval.json").exists()

    record, run = evaluate(
        compose_eval(f"run_dir={run_dir}", "eval_set=train", "accelerator=cpu", f"out={run_dir / 'train_eval.json'}")
    )
    correct, total = plain_accuracy(run.net, run.datamodule, "train")
    assert total == record["num_samples"] == 1800
    assert round(record["metrics"]["train_eval_acc"] * total) == correct
    assert record["recorded"] is None  # the run did not evaluate its training set


def test_load_run_gives_the_trained_network_data_and_config(run_dir):
    run = load_run(run_dir)
    assert not run.net.training and not run.classifier.training
    assert run.config.model.name == "lenet5" and run.config_source == "run.json"
    assert run.checkpoint == run_dir / "checkpoints" / "last.ckpt" and run.checkpoint_step == 16
    assert len(run.datamodule.splits["val"].labels) == 200  # the run's own seeded validation split
    correct, total = plain_accuracy(run.net, run.datamodule, "test")
    assert correct == round(float(last_row(run_dir)["test_acc"]) * total)


def test_a_folder_without_run_json_is_rebuilt_from_the_hydra_files(run_dir, data_dir, tmp_path):
    folder = tmp_path / "hydra_only"
    shutil.copytree(run_dir, folder, ignore=shutil.ignore_patterns("export", "*.json"))
    # What Hydra saves in a run folder: the composed config unresolved, and its own node.
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("train.yaml", overrides=run_overrides(data_dir), return_hydra_config=True)
    (folder / ".hydra").mkdir()
    OmegaConf.save(
        OmegaConf.create({"hydra": OmegaConf.to_container(cfg.hydra, resolve=False)}), folder / ".hydra" / "hydra.yaml"
    )
    with open_dict(cfg):
        del cfg["hydra"]
    OmegaConf.save(cfg, folder / ".hydra" / "config.yaml")
    assert "${hydra:" in (folder / ".hydra" / "config.yaml").read_text()

    run = load_run(folder)
    assert run.config_source == ".hydra/config.yaml" and run.record is None
    assert run.config.run_name == "hydra_only" and run.config.paths.output_dir == str(folder)
    correct, total = plain_accuracy(run.net, run.datamodule, "test")
    assert correct == round(float(last_row(run_dir)["test_acc"]) * total)


def test_classifier_load_from_checkpoint_in_one_line(run_dir, tmp_path):
    run = load_run(run_dir)
    module = Classifier.load_from_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    assert not module.training and module.eval_names == ("test", "val")
    x, _ = run.datamodule.gather("test", torch.arange(64))
    assert torch.equal(module(x), run.net(x))

    # A checkpoint saved before the rebuild information was stored in it: the run.json beside it is used.
    old = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    del old["trainfix"]["rebuild"]
    copy_dir = tmp_path / "copy"
    shutil.copytree(run_dir, copy_dir, ignore=shutil.ignore_patterns("export"))
    torch.save(old, copy_dir / "checkpoints" / "old.ckpt")
    assert torch.equal(Classifier.load_from_checkpoint(copy_dir / "checkpoints" / "old.ckpt")(x), run.net(x))
    (copy_dir / "run.json").unlink()
    with pytest.raises(RunLoadError, match="holds no run configuration"):
        Classifier.load_from_checkpoint(copy_dir / "checkpoints" / "old.ckpt")


def test_export_state_dict_and_onnx_give_the_same_logits(run_dir, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    export_dir = tmp_path / "export"
    record, run = evaluate(
        compose_eval(
            f"run_dir={run_dir}", "export=both", f"export_dir={export_dir}", f"out={tmp_path}", "accelerator=cpu"
        )
    )
    assert record["exports"] == [str(export_dir / "model.pt"), str(export_dir / "model.onnx")]
    x, _ = run.datamodule.gather("test", torch.arange(100, 164))  # a real batch, not the export's example batch of 8
    expected = run.net(x).detach()

    net = load_exported(export_dir / "model.pt")
    assert torch.equal(net(x), expected)
    payload = torch.load(export_dir / "model.pt", weights_only=True)
    assert payload["net"] == {
        "name": "lenet5",
        "num_classes": 10,
        "in_channels": 1,
        "image_size": 28,
        "params": {},
        "init": "default",
        "input_noise_std": 0.0,
        "target": None,  # model=custom's factory (docs/own_model.md)
    }
    assert payload["input"] == {"shape": [1, 28, 28], "scale": "pixels / 255", "mean": None, "std": None}

    session = ort.InferenceSession(str(export_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"images": x.numpy()})
    assert logits.shape == (64, 10)
    np.testing.assert_allclose(logits, expected.numpy(), atol=1e-4, rtol=0)


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["trainfix-eval", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    return exit_.value.code, capsys.readouterr().err


def test_user_errors_are_one_line_and_exit_status_2(run_dir, tmp_path, monkeypatch, capsys):
    # main() in-process: the same Hydra entry point as the CLI, without another interpreter start.
    code, err = run_main(monkeypatch, capsys, f"run_dir={tmp_path / 'nowhere'}")
    assert code == 2 and err == f"trainfix.eval: error: run_dir='{tmp_path / 'nowhere'}': no such folder\n"

    code, err = run_main(monkeypatch, capsys, f"run_dir={run_dir}", "ckpt=best")
    assert code == 2 and "has no checkpoints/best.ckpt" in err and "ckpt=last" in err and "Traceback" not in err

    unfinished = tmp_path / "unfinished"
    shutil.copytree(run_dir, unfinished, ignore=shutil.ignore_patterns("export", "*.json"))
    record = json.loads((run_dir / "run.json").read_text())
    (unfinished / "run.json").write_text(json.dumps({**record, "status": "running"}))
    code, err = run_main(monkeypatch, capsys, f"run_dir={unfinished}")
    assert code == 2 and "not finished (status running" in err and "allow_unfinished=true" in err

    (unfinished / "checkpoints" / "last.ckpt").unlink()
    code, err = run_main(monkeypatch, capsys, f"run_dir={unfinished}", "allow_unfinished=true")
    assert code == 2 and "has no checkpoints/last.ckpt" in err

    # An evidence folder's copy of a finished run (`trainfix evidence copy`: records, never checkpoints).
    copy_records(run_dir.parent, tmp_path / "evidence_runs", glob=run_dir.name)
    code, err = run_main(monkeypatch, capsys, f"run_dir={tmp_path / 'evidence_runs' / run_dir.name}")
    assert code == 2 and "has no checkpoints/ folder: it holds a run's records without its weights" in err
    assert "load the run folder it was copied from" in err and "Traceback" not in err

    code, err = run_main(monkeypatch, capsys, f"run_dir={run_dir}", "eval_set=holdout")
    assert code == 2 and "eval_set='holdout'; accepted: test, val, train" in err


@pytest.mark.slow
@pytest.mark.parametrize("name", model_names())
def test_every_registry_model_exports_to_onnx(name, tmp_path):
    """The exporter call of export=onnx on each model (random weights, the input its source uses):
    exported at batch 4, ONNX Runtime agrees with torch at batch 6. Up to minutes per model on a CPU."""
    ort = pytest.importorskip("onnxruntime")
    channels, size, _ = MODELS[name].designed_for
    torch.manual_seed(0)
    net = build_model(name, num_classes=10, in_channels=channels, image_size=size).eval()
    path = export_network_onnx(net, torch.rand(4, channels, size, size), tmp_path / "model.onnx", name)
    x = torch.rand(6, channels, size, size)
    (logits,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        ["logits"], {"images": x.numpy()}
    )
    np.testing.assert_allclose(logits, net(x).detach().numpy(), atol=1e-4, rtol=0)
