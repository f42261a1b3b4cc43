"""LEAP end to end on real MNIST (CPU, tiny): kill-and-resume is identical (embedding, clusters, stored
losses, metrics), and 2 gloo ranks train the same plans as 1 process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pandas as pd
import pytorch_lightning as pl
import torch

from trainfix.callbacks.strategy_driver import StrategyDriver
from trainfix.data.datamodule import ImageDataModule
from trainfix.models import build_model
from trainfix.models.classifier import Classifier
from trainfix.strategies.leap import Leap

from tests.integration.cpu_ranks import fit_on_cpu_ranks

REPO = Path(__file__).resolve().parents[2]

# A pace that selects part of the data from the first epochs on; an embedding of 2 short passes.
LEAP_TINY = ["strategy=leap", "strategy.lambda0=1.0", "strategy.gamma0=1.0", "strategy.embedding_epochs=2", "strategy.kmeans_n_init=2", "strategy.clusters_per_class=4"]


def _cli(run_dir: Path, data_dir: Path) -> list[str]:
    return [
        sys.executable, "-m", "trainfix.train", *LEAP_TINY,
        f"paths.data_dir={data_dir}", f"hydra.run.dir={run_dir}", "optimizer=sgd",
        "trainer.accelerator=cpu", "trainer.enable_progress_bar=false", "trainer.max_epochs=4",
        "data.train_subset=1000", "data.test_subset=200", "data.batch_size=50", "seed=5",
    ]


def test_leap_kill_and_resume_is_identical(data_dir, tmp_path):
    env = {**os.environ, "WANDB_MODE": "offline"}
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    subprocess.run(_cli(clean, data_dir), check=True, env=env, cwd=REPO, capture_output=True)

    proc = subprocess.Popen(_cli(killed, data_dir), env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not (killed / "checkpoints" / "last.ckpt").exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(pd.read_csv(killed / "metrics.csv")) < 4
    resumed = subprocess.run(_cli(killed, data_dir), env=env, cwd=REPO, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    run = json.loads((killed / "run.json").read_text())
    assert run["status"] == "finished" and run["attempts"][1]["action"] == "resume"

    a, b = (pd.read_csv(d / "metrics.csv") for d in (clean, killed))
    timing = [c for c in a.columns if c.endswith("_s")]
    pd.testing.assert_frame_equal(a.drop(columns=timing), b.drop(columns=timing), check_exact=True)
    assert a["selected_frac_next"].between(0.05, 0.999).any()  # the pace did select a part
    steps = min(2 * 16, int(a["global_step"].iloc[-1]))  # R = ceil(1000 / 64) = 16 steps, 2 passes, one per update
    assert a["embedding_steps"].iloc[-1] == steps and a["embedding_refreshes"].iloc[-1] == 1 + steps // 16
    sa, sb = (torch.load(d / "checkpoints" / "last.ckpt", weights_only=False)["trainfix"]["strategy"] for d in (clean, killed))
    for key in ("stored", "selected"):
        assert torch.equal(sa[key], sb[key])
    assert sa["stored"].isnan().sum() < 1000
    ea, eb = sa["embedding"], sb["embedding"]
    for name in ea["net"]:
        assert torch.equal(ea["net"][name], eb["net"][name])
    for key in ("assignment", "centres", "cluster_class"):
        assert torch.equal(ea["clusters"][key], eb["clusters"][key])
    assert torch.equal(ea["losses"].nan_to_num(-1.0), eb["losses"].nan_to_num(-1.0)) and not ea["losses"].isnan().all()
    assert (clean / "leap_embedding.csv").read_text() == (killed / "leap_embedding.csv").read_text()


def _selection(pl_module: pl.LightningModule) -> dict:
    """What each rank saves besides the indices it trained on (module level: the spawned ranks unpickle it)."""
    return {"selected": pl_module.strategy.selected, "stored": pl_module.strategy.stored.cpu()}


def _fit(data_dir: Path, out: Path, devices: int) -> None:
    out.mkdir(parents=True)
    pl.seed_everything(0)
    strategy = Leap(lambda0=2.0, gamma0=0.5, embedding_epochs=1, kmeans_n_init=2, clusters_per_class=4)
    dm = ImageDataModule("mnist", str(data_dir), batch_size=100, eval_batch_size=500, train_subset=800, test_subset=200)
    dm.attach(strategy, seed=3)
    dm.load()
    net = build_model("lenet5", num_classes=10, in_channels=1, image_size=28)
    module = Classifier(net, strategy, 10, optimizer=partial(torch.optim.SGD, lr=0.1), eval_names=dm.eval_names)
    fit_on_cpu_ranks(module, dm, out, devices, extra=_selection, callbacks=(StrategyDriver(strategy),),
                     reload_dataloaders_every_n_epochs=1, default_root_dir=str(out))


def test_leap_two_ranks_train_the_same_plans_as_one(data_dir, tmp_path):
    _fit(data_dir, tmp_path / "one", devices=1)
    _fit(data_dir, tmp_path / "two", devices=2)
    one = torch.load(tmp_path / "one" / "rank0.pt")
    r0, r1 = (torch.load(tmp_path / "two" / f"rank{r}.pt") for r in range(2))
    assert 8 < len(one["seen"]) < 2 * 8  # epoch 1 trains all 8 batches, epoch 2 the selected part
    assert len(r0["seen"]) == len(r1["seen"]) == len(one["seen"])
    for step, batch in enumerate(one["seen"]):
        assert r0["seen"][step] + r1["seen"][step] == batch
    assert torch.equal(r0["selected"], one["selected"]) and torch.equal(r1["selected"], one["selected"])
    # every rank holds every sample's loss (gathered at the epoch end), equal to the 1-process losses
    assert not one["stored"].isnan().any()
    torch.testing.assert_close(r0["stored"], one["stored"], rtol=1e-4, atol=1e-5)
    assert torch.equal(r0["stored"], r1["stored"])
