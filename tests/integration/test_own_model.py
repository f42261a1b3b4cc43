"""Your own network and data, trained for real (tiny: 2 epochs on 2,000 real MNIST images, CPU).

- docs/own_model.md's Python block, run exactly as written: a user's `nn.Module`, DeepEutaxy, no Hydra.
- `model=custom` with a `data=tensor_file` of real MNIST digits, through `train(cfg)`, then `load_run`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from trainfix import load_run
from trainfix.data.loading import load_split
from trainfix.train import train

DOC = Path(__file__).resolve().parents[2] / "docs" / "own_model.md"


def documented_snippet() -> str:
    """The first ```python block of docs/own_model.md's "From Python" section."""
    section = DOC.read_text().split("## From Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)


def test_the_documented_python_path_trains_a_users_network_with_deepeutaxy(data_dir, tmp_path, monkeypatch):
    code = documented_snippet()
    assert len(code.splitlines()) <= 20, "the README promises at most 20 lines"
    monkeypatch.setenv("TRAINFIX_DATA_DIR", str(data_dir))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # the documented code, as a user runs it

    model, strategy, history = namespace["model"], namespace["strategy"], namespace["model"].history
    assert model.net is namespace["net"] and [row["epoch"] for row in history] == [0, 1]
    assert history[-1]["test_acc"] > 0.5, history  # it learns: chance is 0.1
    assert history[1]["train_loss"] < history[0]["train_loss"]
    # DeepEutaxy did its job: after epoch 0 it scored the 20 fixed batches and trained them by ascending similarity
    assert [row["de_refreshed"] for row in history] == [1.0, 0.0] and strategy.refreshes == 1
    records = [json.loads(line) for line in (tmp_path / "runs/own_model/de_refreshes.jsonl").read_text().splitlines()]
    assert len(records) == 1 and len(records[0]["scores"]) == 20
    scores = records[0]["scores"]
    assert strategy.sequence == records[0]["order"] != list(range(20))
    assert all(scores[a] <= scores[b] for a, b in zip(strategy.sequence, strategy.sequence[1:]))
    assert history[1]["samples_seen"] == 4000


def small_cnn(num_classes: int, in_channels: int, width: int = 8) -> nn.Module:
    """A network no registry knows, as a user would write it."""
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.LazyLinear(num_classes),
    )


def test_custom_model_on_a_tensor_file_trains_and_reloads(data_dir, tiny_cfg, tmp_path):
    train_split = load_split("mnist", data_dir, train=True)
    test_split = load_split("mnist", data_dir, train=False)
    path = tmp_path / "digits.pt"
    torch.save(
        {
            "train": {"images": train_split.images[:2000], "labels": train_split.labels[:2000]},
            "test": {"images": test_split.images[:500].float() / 255, "labels": test_split.labels[:500]},
            "classes": train_split.classes,
        },
        path,
    )
    cfg = tiny_cfg(
        "model=custom",
        f"model.target={__name__}.small_cnn",
        "+model.params.width=6",
        "data=tensor_file",
        f"data.file={path}",
        "strategy=trimming",
        "optimizer=adam",
        "optimizer.lr=0.003",
        run_dir=tmp_path / "run",
    )
    last, objects = train(cfg)
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert metrics["test_acc"].iloc[-1] > 0.5, metrics  # chance: 0.1
    assert objects["module"].net[0].out_channels == 6
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["data"]["dataset"] == "tensor_file" and run["data"]["num_train"] == 2000
    assert run["data"]["source"] == str(path) and run["data"]["official"] is False

    loaded = load_run(tmp_path / "run")  # the network rebuilt from model.target, the checkpoint's weights
    x = test_split.images[:8].float() / 255
    trained = objects["module"].net.cpu().eval()
    assert torch.allclose(loaded.net(x), trained(x), atol=1e-6)
