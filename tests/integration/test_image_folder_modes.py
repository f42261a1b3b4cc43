"""Issue 13: training on an image folder that mixes gray and RGB files (real MNIST digits written as PNGs).

Before the fix, the one RGB file made train/ 3-channel while test/ stayed 1-channel, and the first
evaluation failed inside the model ("LeNet5 was built for inputs [N, 3, 28, 28], got [60, 1, 28, 28]").
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
from PIL import Image

from tests.conftest import compose_eval
from trainfix.data.loading import load_split
from trainfix.eval import evaluate
from trainfix.train import train


def test_training_on_a_folder_mixing_gray_and_rgb_digits(tiny_cfg, data_dir, tmp_path, caplog, monkeypatch):
    monkeypatch.setenv(
        "XDG_CACHE_HOME", str(tmp_path / "cache")
    )  # the shared data root is read-only: decoded folders go here
    mnist = load_split("mnist", data_dir, train=False)
    folder = tmp_path / "digits"
    counts = {"train": 30, "test": 6}  # per class
    start = 0
    for split, per_class in counts.items():
        for digit in range(10):
            indices = (mnist.labels == digit).nonzero().flatten()[start : start + per_class]
            for i, index in enumerate(indices.tolist()):
                pixels = mnist.images[index, 0].numpy()
                path = folder / split / str(digit) / f"{i:03d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                if split == "train" and i == 0 and digit < 3:  # three scanned in colour: a tinted digit
                    tinted = np.stack(
                        [pixels, (pixels * 0.8).astype(np.uint8), (pixels * 0.5).astype(np.uint8)], axis=2
                    )
                    Image.fromarray(tinted, "RGB").save(path)
                else:
                    Image.fromarray(pixels, "L").save(path)
        start += per_class

    cfg = tiny_cfg(
        "data=image_folder",
        f"data.folder={folder}",
        "data.train_subset=null",
        "data.test_subset=null",
        "data.batch_size=50",
        "data.eval_batch_size=60",
        "trainer.max_epochs=1",
        run_dir=tmp_path / "run",
    )
    with caplog.at_level(logging.WARNING, logger="trainfix.data"):
        train(cfg)
    assert "converted 3 of 300 images from RGB to L" in caplog.text
    assert "0/000.png, 1/000.png, 2/000.png" in caplog.text
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["status"] == "finished" and run["data"]["input_shape"] == [1, 28, 28] and run["data"]["num_test"] == 60
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv", dtype=str)
    assert len(metrics) == 1

    # And the evaluation entry point rebuilds the same folder data: the recorded test_acc again.
    record, _ = evaluate(compose_eval(f"run_dir={tmp_path / 'run'}", "accelerator=cpu"))
    assert "%.8g" % record["metrics"]["test_acc"] == metrics["test_acc"].iloc[0] and record["num_samples"] == 60
