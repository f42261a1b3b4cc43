"""Trimming under DDP on a BatchNorm network (2 gloo CPU ranks): with BatchNorm synchronized, the kept
set of every step and the final weights are one process's; without it, they are not.

Why: trimming keeps the r largest per-sample losses of the *global* batch. The ranks gather the
losses exactly, but in training mode BatchNorm normalizes each rank's slice with that slice's own
statistics, so the losses being ranked are not the ones one process computes. A strategy that
ranks or thresholds losses declares `needs_global_losses`, and `trainfix.training.sync_batchnorm`
then synchronizes BatchNorm (CPU: trainfix's gloo all-reduce layer; GPU: torch's SyncBatchNorm).

Precision. The network runs in float64 here (the cross-entropy, as in every run, in float32). In
float32 the comparison is not sharp: ResNet-20's float32 gradient is itself ~1 % off its float64
value in some conv kernels (BatchNorm's backward subtracts means: cancellation), so two float32
runs that only sum in another order (2 ranks vs 1 process, or 1 process on 1 vs 2 threads) drift
apart by rounding within a few SGD steps, and then a boundary sample of the top-r swaps. Measured on
these batches (`python -m tests.integration.test_ddp_batchnorm_sync` prints it): float32 with
SyncBatchNorm, step-0 losses 1.9e-6 apart, kept sets equal for 5 steps, then 4-12 samples apart;
1 process on 2 threads vs 1 thread: equal for 6 steps. In float64 the same rounding is ~1e-9 of it:
every kept set is equal, the ranked losses agree to <= 2.4e-7 (the float32 cross-entropy) and the
weights to 1.5e-9 after 8 steps, so `WEIGHT_ATOL = 1e-5` leaves over three orders of margin, while
without synchronization the step-0 losses differ by 0.27 and the weights by 0.11 (other statistics,
not rounding).
"""

from __future__ import annotations

import logging
import os
import socket
from functools import partial
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from tests.integration.cpu_ranks import fit_on_cpu_ranks
from trainfix.data.datamodule import ImageDataModule
from trainfix.models import build_model
from trainfix.models.sync_batchnorm import (
    SyncBatchNorm,
    convert_sync_batchnorm,
    local_batch_norm,
    revert_sync_batchnorm,
)
from trainfix.strategies import Trimming
from trainfix.strategies.base import Reduction
from trainfix.strategies.trimming import kept_count
from trainfix.training.callbacks.strategy_driver import StrategyDriver
from trainfix.training.module import Classifier
from trainfix.training.sync_batchnorm import batchnorm_sync

# gloo ranks: one DDP test at a time (2 ranks beside another worker's test already oversubscribe 2 cores)
pytestmark = pytest.mark.xdist_group("ddp")

WEIGHT_ATOL = 1e-5
LOSS_ATOL = 1e-5  # the cross-entropy is float32 (of float64 logits): a few ulps of losses up to ~10
SAMPLES, BATCH, P_START, P_END = (
    200,
    50,
    0.5,
    0.25,
)  # 2 epochs x 4 global batches; half of each batch dropped from the start


class RecordingTrimming(Trimming):
    """Trimming that also records, step by step, this rank's kept samples (global indices) and the
    per-sample losses it ranked ({index: loss})."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.kept_log: list[list[int]] = []
        self.loss_log: list[dict[int, float]] = []

    def reduce_loss(self, losses: torch.Tensor, indices: torch.Tensor, global_size: int) -> Reduction:
        reduction = super().reduce_loss(losses, indices, global_size)
        self.kept_log.append(indices[reduction.weights > 0].cpu().tolist())
        self.loss_log.append(dict(zip(indices.cpu().tolist(), losses.double().cpu().tolist(), strict=True)))
        return reduction


class Float64(torch.nn.Module):
    """The network in float64 (the data module serves float32 images)."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net.double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.double())


def _record(pl_module: pl.LightningModule) -> dict:
    """What each rank saves (module level: picklable)."""
    return {
        "kept": pl_module.strategy.kept_log,
        "losses": pl_module.strategy.loss_log,
        "weights": {k: v.detach().cpu().clone() for k, v in pl_module.net.state_dict().items()},
    }


def fit(data_dir: Path, out: Path, devices: int, sync: bool, dtype: torch.dtype = torch.float64) -> None:
    out.mkdir(parents=True)
    pl.seed_everything(0)
    strategy = RecordingTrimming(p_start=P_START, p_end=P_END)
    dm = ImageDataModule(
        "mnist", str(data_dir), batch_size=BATCH, eval_batch_size=500, train_subset=SAMPLES, test_subset=100
    )
    dm.attach(strategy, seed=5)
    dm.load()
    net = build_model("resnet20", num_classes=10, in_channels=1, image_size=28)  # 19 BatchNorm layers
    net = Float64(net) if dtype == torch.float64 else net
    module = Classifier(net, strategy, 10, optimizer=partial(torch.optim.SGD, lr=0.05), eval_names=dm.eval_names)
    plugin = batchnorm_sync(strategy, None if sync else False)
    assert (plugin is not None) == sync  # trimming declares needs_global_losses: on unless turned off
    extra = {"plugins": [plugin]} if plugin else {}
    fit_on_cpu_ranks(
        module, dm, out, devices, extra=_record, callbacks=(StrategyDriver(strategy),), ddp="ddp_fork", **extra
    )


def _global_kept(run: Path, ranks: int) -> list[set[int]]:
    parts = [torch.load(run / f"rank{r}.pt")["kept"] for r in range(ranks)]
    return [set().union(*step) for step in zip(*parts, strict=True)]


def _loss_diffs(one: Path, two: Path) -> list[float]:
    """Per step, the max abs difference of the per-sample losses the two runs ranked."""
    a = torch.load(one / "rank0.pt")["losses"]
    b = [{**x, **y} for x, y in zip(*(torch.load(two / f"rank{r}.pt")["losses"] for r in range(2)), strict=True)]
    assert [sorted(x) for x in a] == [sorted(y) for y in b]
    return [max(abs(x[i] - y[i]) for i in x) for x, y in zip(a, b, strict=True)]


def _max_weight_diff(a: dict, b: dict) -> float:
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].is_floating_point())


@pytest.fixture(scope="module")
def one_process(data_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bn_sync") / "one"
    fit(data_dir, out, devices=1, sync=True)  # one device: the plugin changes nothing
    return out


# Each case starts 2 gloo ranks and trains ResNet-20 for 8 steps in float64 (~40 s on 2 loaded cores).
@pytest.mark.parametrize("sync", [True, False], ids=["syncbn", "no-syncbn"])
def test_trimming_on_two_ranks_keeps_one_process_samples_only_with_synced_batchnorm(
    data_dir, tmp_path, one_process, sync
):
    fit(data_dir, tmp_path / "two", devices=2, sync=sync)
    one = torch.load(one_process / "rank0.pt")
    kept_one, kept_two = _global_kept(one_process, 1), _global_kept(tmp_path / "two", 2)
    steps = SAMPLES // BATCH
    assert len(kept_one) == len(kept_two) == 2 * steps
    assert [len(s) for s in kept_one] == [kept_count(P_START, BATCH)] * steps + [kept_count(P_END, BATCH)] * steps
    differing = [len(a ^ b) for a, b in zip(kept_one, kept_two, strict=True)]
    losses = _loss_diffs(one_process, tmp_path / "two")
    r0, r1 = (torch.load(tmp_path / "two" / f"rank{r}.pt")["weights"] for r in range(2))
    # DDP keeps the ranks' parameters identical either way; per-rank BatchNorm running statistics
    # differ until DDP broadcasts rank 0's at the next forward.
    parameters = [k for k in r0 if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert _max_weight_diff({k: r0[k] for k in parameters}, {k: r1[k] for k in parameters}) == 0
    if sync:
        assert _max_weight_diff(r0, r1) == 0
    diff = _max_weight_diff(one["weights"], r0)
    print(
        f"sync={sync}: kept-set symmetric difference from one process, per step: {differing}; "
        f"loss max abs diff per step: {[f'{x:.2g}' for x in losses]}; weight max abs diff {diff:.3g}"
    )
    if sync:
        assert differing == [0] * len(differing)
        assert max(losses) < LOSS_ATOL
        assert diff < WEIGHT_ATOL
    else:  # the failure the synchronization fixes: each rank's own BatchNorm statistics change the losses
        assert losses[0] > 100 * LOSS_ATOL  # already at the first step, from identical weights
        assert any(differing)
        assert diff > 100 * WEIGHT_ATOL


# ----------------------------------------------------------------------------- the layer itself
def _small_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.BatchNorm2d(4, eps=1e-3, momentum=0.01),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 6 * 6, 5),
        torch.nn.BatchNorm1d(5, momentum=None),
    ).double()


def _small_data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(11, 3, 8, 8, generator=g, dtype=torch.float64), torch.randn(
        11, 5, generator=g, dtype=torch.float64
    )


def _layer_rank(rank: int, world: int, port: int, out: str) -> None:
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        net, converted = convert_sync_batchnorm(_small_net())
        assert converted == 2
        x, t = _small_data()
        part = torch.tensor_split(torch.arange(len(x)), world)[rank]  # 6 and 5 samples: unequal counts
        xs = x[part].clone().requires_grad_()
        y = net(xs)
        (
            ((y - t[part]) ** 2).sum() * world / len(x)
        ).backward()  # normalized by the global batch, x world: DDP averages
        grads = {k: p.grad.clone() for k, p in net.named_parameters()}
        for g in grads.values():
            dist.all_reduce(g)
            g /= world
        buffers = {k: b.clone() for k, b in net.named_buffers()}
        with local_batch_norm():  # each rank alone: no collective, so ranks may run different counts
            local = net(x[: 3 + rank]).detach()
        torch.save(
            {"y": y.detach(), "xgrad": xs.grad / world, "grads": grads, "buffers": buffers, "local": local},
            f"{out}/r{rank}.pt",
        )
    finally:
        dist.destroy_process_group()


def test_cpu_sync_batchnorm_is_one_process_batchnorm(tmp_path):
    """Forward, input and parameter gradients and running statistics of 2 gloo ranks (6 + 5 samples)
    equal plain BatchNorm on all 11 samples in one process (float64: to 1e-12); `local_batch_norm`
    is plain BatchNorm on the rank's own batch; revert restores the original classes."""
    net = _small_net()
    x, t = _small_data()
    x = x.clone().requires_grad_()
    y = net(x)
    (((y - t) ** 2).sum() / len(x)).backward()
    ctx = mp.get_context("fork")
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    ranks = [ctx.Process(target=_layer_rank, args=(r, 2, port, str(tmp_path))) for r in range(2)]
    for p in ranks:
        p.start()
    for p in ranks:
        p.join(120)
    assert [p.exitcode for p in ranks] == [0, 0]
    got = [torch.load(tmp_path / f"r{r}.pt") for r in range(2)]
    close = {"rtol": 0, "atol": 1e-12}
    torch.testing.assert_close(torch.cat([g["y"] for g in got]), y.detach(), **close)
    torch.testing.assert_close(torch.cat([g["xgrad"] for g in got]), x.grad, **close)
    for name, p in net.named_parameters():
        torch.testing.assert_close(got[0]["grads"][name], p.grad, **close)
    for name, b in net.named_buffers():
        torch.testing.assert_close(got[0]["buffers"][name], b, **close)
    for rank in range(2):
        alone = _small_net().train()
        torch.testing.assert_close(got[rank]["local"], alone(_small_data()[0][: 3 + rank]).detach(), **close)

    converted, n = convert_sync_batchnorm(_small_net())
    assert n == 2 and sum(isinstance(m, SyncBatchNorm) for m in converted.modules()) == 2
    reverted = revert_sync_batchnorm(converted)
    assert [type(m) for m in reverted] == [type(m) for m in _small_net()]
    # one process (no process group): a plain BatchNorm
    single = convert_sync_batchnorm(_small_net())[0].train()
    torch.testing.assert_close(single(_small_data()[0]), _small_net().train()(_small_data()[0]), **close)


# ----------------------------------------------------------------------------- the trainer's decision
@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["strategy=trimming"], True),  # declared: on by default
        (["strategy=trimming", "trainer.sync_batchnorm=false"], False),  # the user's override wins
        (["strategy=shuffle"], False),  # ranks nothing: each rank's own statistics, as usual
        (["strategy=shuffle", "trainer.sync_batchnorm=true"], True),
    ],
)
def test_trainer_synchronizes_batchnorm_when_the_strategy_needs_global_losses(
    tiny_cfg, tmp_path, caplog, overrides, expected
):
    """`trainfix.train._build` (no fit): the LayerSync plugin is in the DDP trainer exactly when
    `trainer.sync_batchnorm` (null: the strategy's `needs_global_losses`) says so, with one log line."""
    from trainfix.runs.folder import RunAction
    from trainfix.train import _build
    from trainfix.training.sync_batchnorm import BatchNormSync

    cfg = tiny_cfg(
        "model=resnet20",
        "trainer=ddp_cpu",
        "trainer.devices=2",
        "data.train_subset=100",
        *overrides,
        run_dir=tmp_path / "run",
    )
    with caplog.at_level(logging.INFO, logger="trainfix.train"):
        trainer, _, _ = _build(cfg, tmp_path / "run", {}, RunAction("new"), {})
    assert trainer.world_size == 2
    assert isinstance(trainer.strategy._layer_sync, BatchNormSync) is expected
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("SyncBatchNorm on")]
    assert len(lines) == int(expected)
    if expected:
        assert "19 BatchNorm layers" in lines[0] and "2 ranks" in lines[0]


if __name__ == "__main__":  # the float32 rows of docs/trimming.md, "DDP and BatchNorm" (~3 min here)
    import shutil
    import tempfile

    from tests.conftest import shared_data_dir

    root = Path(tempfile.mkdtemp(prefix="bn_sync_f32_"))
    try:
        fit(shared_data_dir(), root / "one", 1, True, torch.float32)
        base = torch.load(root / "one" / "rank0.pt")
        runs = {}
        for sync in (True, False):
            fit(shared_data_dir(), root / f"two_{sync}", 2, sync, torch.float32)
            runs[f"float32, 2 ranks, BatchNorm {'synchronized' if sync else 'per rank'}"] = (root / f"two_{sync}", 2)
        torch.set_num_threads(2)  # last: no fork after this process's parallel regions
        fit(shared_data_dir(), root / "threads", 1, True, torch.float32)
        runs["float32, 1 process on 2 threads"] = (root / "threads", 1)
        for name, (run, ranks) in runs.items():
            kept = [len(a ^ b) for a, b in zip(_global_kept(root / "one", 1), _global_kept(run, ranks), strict=True)]
            step0 = f"{_loss_diffs(root / 'one', run)[0]:.2g}" if ranks == 2 else "-"
            weights = _max_weight_diff(base["weights"], torch.load(run / "rank0.pt")["weights"])
            print(
                f"{name}: step-0 loss max abs diff {step0}; kept-set symmetric difference per step {kept}; "
                f"weights max abs diff {weights:.3g}"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
