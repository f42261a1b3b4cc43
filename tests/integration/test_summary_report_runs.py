"""`summary` and `report` on real tiny LeNet-5 runs (trained in-process on real MNIST), and the report as
headless Chromium renders it. (On hand-made run folders: tests/unit/test_summary_report.py.)"""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import compose_train
from tests.unit.test_summary_report import CHROMIUM, images
from trainfix.results.collect import collect_runs
from trainfix.results.report import write_report
from trainfix.results.summary import summarize
from trainfix.train import train


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """Three real LeNet-5 runs on 1,000 MNIST images, 2 epochs: Adam lr 1e-3 seeds 0 and 1, lr 1e-4 seed 0."""
    data = data_dir
    root = tmp_path_factory.mktemp("real") / "sweep"
    for lr, seed in ((0.001, 0), (0.001, 1), (0.0001, 0)):
        cfg = compose_train(
            [
                f"paths.data_dir={data}",
                "trainer.accelerator=cpu",
                "trainer.max_epochs=2",
                "trainer.enable_progress_bar=false",
                "data.train_subset=1000",
                "data.test_subset=500",
                "data.batch_size=100",
                "data.eval_batch_size=500",
                "optimizer=adam",
                f"optimizer.lr={lr}",
                f"seed={seed}",
            ],
            root / f"lr{lr}_seed{seed}",
        )
        train(cfg)
    return root


def test_report_real_runs(real_runs: Path, tmp_path: Path) -> None:
    runs = collect_runs(real_runs)
    table = summarize(runs).set_index("optimizer.lr")
    assert list(table.index) == ["0.0001", "0.001"] and list(table["n"]) == [1, 2]
    finished = runs.runs.set_index("run_id")
    assert (finished["status"] == "finished").all() and set(finished["num_classes"]) == {10}
    last = runs.epochs.sort_values("epoch").groupby("run_id")["test_acc"].last()
    assert table.loc["0.001", "mean"] == pytest.approx((last["lr0.001_seed0"] + last["lr0.001_seed1"]) / 2)
    assert 0.5 < table.loc["0.001", "mean"] <= 1.0  # Adam 1e-3 learns MNIST well past chance in 2 epochs
    path = write_report(runs, tmp_path / "report.html")
    page = path.read_text()
    assert len(images(page)) == 1 and "dotted grey: chance 1/num_classes" in page  # both lr overlaid in one figure
    assert re.findall(r">(finished|failed)</td>", page.split("id='runs'")[1]) == ["finished"] * 3


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed (Debian: apt-get install chromium)")
def test_report_renders_in_headless_chromium(real_runs: Path, tmp_path: Path) -> None:
    from PIL import Image

    report = write_report(collect_runs(real_runs), tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--hide-scrollbars",
            "--window-size=1200,1400",
            f"--screenshot={shot}",
            report.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    image = Image.open(io.BytesIO(shot.read_bytes())).convert("L")
    assert image.size == (1200, 1400)
    colours = image.getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50  # text, table borders and curves, not a blank page
    # The top third (title, summary table) and the middle (first figure) both hold dark pixels.
    top = image.crop((0, 0, 1200, 450)).getextrema()
    middle = image.crop((0, 450, 1200, 900)).getextrema()
    assert top[0] < 100 and middle[0] < 100
