"""The monitor on real runs (real MNIST, CPU): records, stop at detection, AutoTrainer's repair loop. (Options and
settings composed without a run: tests/unit/test_monitor_configs.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from trainfix.monitor.detectors import ol_judge
from trainfix.monitor.repair import repair
from trainfix.train import train
from trainfix.training.compose import compose_config

# A 1-hidden-layer MLP with SGD at lr 0.5 oscillates on 2,000 MNIST images: its validation accuracy
# is 0.678 0.882 0.816 0.862 over its first 4 epochs on this CPU (one pair of 0.066 >= 0.2 x 4 epochs).
OSCILLATING = [
    "experiment=monitor/oscillating_loss/mlp_mnist",
    "data.train_subset=2000",
    "data.test_subset=500",
    "trainer.max_epochs=8",
    "optimizer=sgd",
    "optimizer.lr=0.5",
    "model.params.hidden_layers=1",
    "monitor=autotrainer_faithful",
    "monitor.series=val_acc",
    "monitor.schedule.every=1",
    "trainer.accelerator=cpu",
    "trainer.enable_progress_bar=false",
]


def test_oscillating_run_is_stopped_then_repaired(tmp_path, data_dir):
    overrides = [f"paths.data_dir={data_dir}", *OSCILLATING]
    run_dir = tmp_path / "run"
    train(compose_config(overrides + ["monitor.on_detection=stop"], run_dir))

    metrics = pd.read_csv(run_dir / "metrics.csv")
    monitor = json.loads((run_dir / "monitor.json").read_text())
    val = metrics["test_acc"].tolist()
    # the callback's flag is ol_judge on the recorded series, recomputed here independently: first raised at a
    # check past the warm-up gate (n >= 0.3 x 8 - 1), kept (sticky), and given as AutoTrainer's verdict at its
    # mid check, the first check with 0-based epoch >= 0.5 x 8, i.e. after epoch 5, where the run stops.
    first = next(n for n in range(1, len(val) + 1) if ol_judge(val[:n], 0.03, 0.2).flagged and n >= 0.3 * 8 - 1)
    assert first == 4 and "oscillating_loss" in monitor["checks"][first - 1]["evidence"]["flags"]
    assert [c["problems"] for c in monitor["checks"][:first]] == [[]] * first
    assert monitor["detections"] == {"oscillating_loss": 5} and monitor["stopped_at"] == 5 == len(metrics)
    assert [c["evidence"]["layer_check"] for c in monitor["checks"]] == [False] * 4 + [True]
    assert metrics["monitor_check"].eq(1).all() and metrics["monitor_grad_ratio"].gt(0).all()
    assert (run_dir / "checkpoints" / "detection.ckpt").exists()

    def in_process(try_overrides: list[str], try_dir: Path) -> None:
        train(compose_config(try_overrides, try_dir))

    table = repair(run_dir, overrides, launcher=in_process, max_tries=3)
    # AutoTrainer's first solution, Keras' Adam with its defaults (lr 1e-3; the run's SGD lr 0.5 is dropped),
    # from the detection weights, finishes 8 epochs with no problem.
    assert [(r["solution"], r["outcome"]) for r in table] == [("adam_1", "solved")]
    assert table[0]["overrides"] == ["optimizer=adam_keras"] and table[0]["from"] == "detection weights"
    fixed = pd.read_csv(Path(table[0]["run"]) / "metrics.csv")
    assert len(fixed) == 8 and json.loads((Path(table[0]["run"]) / "monitor.json").read_text())["detections"] == {}
    assert fixed["lr"].eq(0.001).all()
    # it starts from the weights at detection: its first epoch is already far above a fresh network's
    assert fixed["train_acc"].iloc[0] > metrics["train_acc"].iloc[0] + 0.1
    assert json.loads((run_dir / "repairs.json").read_text())["solved_by"] == "adam_1"

    # AutoTrainer's bn try on these weights: BatchNorm inserted between each hidden Dense and its ReLU,
    # the detection weights loaded into the other layers, the BatchNorm layers fresh.
    bn_dir = tmp_path / "bn"
    train(
        compose_config(
            [
                *overrides,
                "trainer.max_epochs=1",
                "++model.params.batch_norm=true",
                f"init_from={run_dir / 'checkpoints' / 'detection.ckpt'}",
            ],
            bn_dir,
        )
    )
    bn = pd.read_csv(bn_dir / "metrics.csv")
    assert len(bn) == 1 and bn["train_acc"].iloc[0] > metrics["train_acc"].iloc[0] + 0.1
