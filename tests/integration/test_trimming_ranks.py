"""Mini-batch trimming across 2 gloo processes (forked ranks): the global top-r of a batch split over the ranks
gets the same weights as on 1 process. (The trimmed loss, schedule and state: tests/unit/test_trimming.py.)"""

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from tests.unit.test_trimming import end_epoch, started

# gloo ranks: one DDP test at a time (2 ranks beside another worker's test already oversubscribe 2 cores;
# each process group binds a port)
pytestmark = pytest.mark.xdist_group("ddp")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_weights(rank: int, world: int, port: int, global_losses: torch.Tensor, out: Path) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        strategy = started(
            max_epochs=2, num_samples=len(global_losses), batch_size=len(global_losses), p_start=0.4, p_end=0.4
        )
        local = torch.tensor_split(global_losses, world)[rank]  # the plan sampler's split
        reduction = strategy.reduce_loss(local, torch.arange(len(local)), len(global_losses))
        torch.save((reduction.weights, end_epoch(strategy)), out / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_global_top_r_identical_on_one_and_two_gloo_processes(tmp_path):
    """A global batch of 7 (slices of 4 and 3) with ties across the ranks' boundary: the same 3 samples
    (r = round(0.4 * 7) = 3) get the same weights 7/3 on 2 processes as on 1; ties go to the lower position."""
    global_losses = torch.tensor([0.5, 2.0, 1.0, 3.0, 2.0, 0.1, 2.0])
    one = started(max_epochs=2, num_samples=7, batch_size=7, p_start=0.4, p_end=0.4)
    expected = one.reduce_loss(global_losses, torch.arange(7), 7).weights
    assert expected.tolist() == pytest.approx([0, 7 / 3, 0, 7 / 3, 7 / 3, 0, 0])  # 3.0, then the 2.0s at 1 and 4
    # fork: the children need nothing re-imported (spawn costs seconds of imports per process)
    mp.start_processes(
        _rank_weights, args=(2, _free_port(), global_losses, tmp_path), nprocs=2, join=True, start_method="fork"
    )
    out = [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(2)]
    weights = torch.cat([out[0][0], out[1][0]])
    metrics = (out[0][1], out[1][1])
    assert torch.equal(weights, expected)
    assert metrics[0] == metrics[1] == end_epoch(one)
