"""LEAP end to end on real MNIST (CPU, tiny): the background thread gives the same run as the same-thread
interleaving, and 2 gloo ranks train the same plans as 1 process. (Kill-and-resume through the CLI is
tests/system/test_leap_resume.py.)"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from tests.integration.cpu_ranks import fit_on_cpu_ranks
from trainfix.data.datamodule import ImageDataModule
from trainfix.models import build_model
from trainfix.strategies.leap import Leap
from trainfix.training.callbacks.strategy_driver import StrategyDriver
from trainfix.training.module import Classifier


class WorkerLog(pl.Callback):
    """Whether the embedding's worker thread was running at each training step (module level: the spawned
    ranks unpickle it)."""

    def __init__(self) -> None:
        self.running: list[bool] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.running.append(pl_module.strategy._worker is not None)


def _selection(pl_module: pl.LightningModule) -> dict:
    """What each rank saves besides the indices it trained on (module level: the spawned ranks unpickle it)."""
    strategy = pl_module.strategy
    running = next((c.running for c in pl_module.trainer.callbacks if isinstance(c, WorkerLog)), [])
    return {
        "selected": strategy.selected,
        "stored": strategy.stored.cpu(),
        "embedding": strategy.embedding.state_dict(),
        "worker_running": running,
    }


# Forked ranks start in about a second (spawned ones import torch and Lightning again: ~15 CPU-s a test), but a
# fork after k-means ran OpenMP threads in this process hangs in the child (docs/leap.md): fork only where this
# process runs one OpenMP thread (the suite's default, tests/conftest.py).
DDP_LAUNCH = "ddp_fork" if os.environ.get("OMP_NUM_THREADS") == "1" else "ddp_spawn"


def _fit(data_dir: Path, out: Path, devices: int, samples: int = 800, **leap) -> None:
    out.mkdir(parents=True)
    pl.seed_everything(0)
    strategy = Leap(lambda0=2.0, gamma0=0.5, embedding_epochs=1, kmeans_n_init=1, clusters_per_class=3, **leap)
    dm = ImageDataModule(
        "mnist", str(data_dir), batch_size=100, eval_batch_size=500, train_subset=samples, test_subset=100
    )
    dm.attach(strategy, seed=3)
    dm.load()
    net = build_model("lenet5", num_classes=10, in_channels=1, image_size=28)
    module = Classifier(net, strategy, 10, optimizer=partial(torch.optim.SGD, lr=0.1), eval_names=dm.eval_names)
    fit_on_cpu_ranks(
        module,
        dm,
        out,
        devices,
        extra=_selection,
        callbacks=(StrategyDriver(strategy), WorkerLog()),
        ddp=DDP_LAUNCH,
        reload_dataloaders_every_n_epochs=1,
        default_root_dir=str(out),
    )


def test_leap_background_thread_equals_interleaving(data_dir, tmp_path):
    # 1.5 embedding steps per update, R = ceil(800 / 64) = 13 steps in all: 12 in the 8 batches of epoch 0, the
    # 13th (and the refresh after it) in epoch 1. The threads' timing must not show in any number.
    for mode in ("concurrent", "background"):
        _fit(data_dir, tmp_path / mode, devices=1, mode=mode, steps_per_update=1.5, refresh_every=None)
    same, thread = (
        torch.load(tmp_path / mode / "rank0.pt", weights_only=False) for mode in ("concurrent", "background")
    )
    assert same["seen"] == thread["seen"] and 8 < len(thread["seen"]) < 16
    assert not any(same["worker_running"]) and all(thread["worker_running"][:8])  # epoch 0 ran beside its worker
    assert torch.equal(same["selected"], thread["selected"]) and torch.equal(same["stored"], thread["stored"])
    ea, eb = same["embedding"], thread["embedding"]
    assert ea["steps"] == eb["steps"] == 13 and ea["refreshes"] == eb["refreshes"] == 2
    for name in ea["net"]:
        assert torch.equal(ea["net"][name], eb["net"][name]), name
    for key in ("assignment", "centres"):
        assert torch.equal(ea["clusters"][key], eb["clusters"][key])
    assert torch.equal(ea["losses"].nan_to_num(-1.0), eb["losses"].nan_to_num(-1.0))


@pytest.mark.xdist_group("ddp")
@pytest.mark.parametrize("losses", ["trained", "current"])
def test_leap_two_ranks_train_the_same_plans_as_one(data_dir, tmp_path, losses):
    # losses=current: no gather; every rank re-measures the whole training set with the same weights
    _fit(data_dir, tmp_path / "one", devices=1, samples=400, losses=losses)
    _fit(data_dir, tmp_path / "two", devices=2, samples=400, losses=losses)
    one = torch.load(tmp_path / "one" / "rank0.pt")
    r0, r1 = (torch.load(tmp_path / "two" / f"rank{r}.pt") for r in range(2))
    assert 4 < len(one["seen"]) < 2 * 4  # epoch 1 trains all 4 batches, epoch 2 the selected part
    assert len(r0["seen"]) == len(r1["seen"]) == len(one["seen"])
    for step, batch in enumerate(one["seen"]):
        assert r0["seen"][step] + r1["seen"][step] == batch
    assert torch.equal(r0["selected"], one["selected"]) and torch.equal(r1["selected"], one["selected"])
    # every rank holds every sample's loss (gathered at the epoch end), equal to the 1-process losses
    assert not one["stored"].isnan().any()
    torch.testing.assert_close(r0["stored"], one["stored"], rtol=1e-4, atol=1e-5)
    assert torch.equal(r0["stored"], r1["stored"])
