"""The planner protocol `data/` defines: every registered strategy satisfies it, and it is all the
DataModule needs (a plain object with its three methods serves a training epoch)."""

from __future__ import annotations

import inspect

import pytest
import torch

from trainfix.data.datamodule import ImageDataModule
from trainfix.data.planner import BatchPlanner
from trainfix.strategies import STRATEGIES

MEMBERS = ("bind", "num_batches", "plan_epoch")


def test_the_protocol_has_exactly_the_members_data_calls():
    declared = {
        name for name, value in vars(BatchPlanner).items() if inspect.isfunction(value) and not name.startswith("_")
    }
    assert declared == set(MEMBERS)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_registered_strategy_is_a_batch_planner(name):
    strategy = STRATEGIES[name]
    assert issubclass(strategy, BatchPlanner), f"{strategy.__name__} lacks one of {MEMBERS}"
    for member in MEMBERS:
        wanted = list(inspect.signature(getattr(BatchPlanner, member)).parameters)
        found = list(inspect.signature(getattr(strategy, member)).parameters)
        assert found == wanted, f"{strategy.__name__}.{member}{found} differs from BatchPlanner.{member}{wanted}"


class ReversedPlanner:
    """Not a Strategy: only the three members of BatchPlanner."""

    def bind(self, num_samples: int, batch_size: int, seed: int) -> None:
        self.num_samples, self.batch_size = num_samples, batch_size

    def num_batches(self) -> int:
        return -(-self.num_samples // self.batch_size)

    def plan_epoch(self, epoch: int) -> list[torch.Tensor]:
        return list(torch.arange(self.num_samples).flip(0).split(self.batch_size))


def test_the_datamodule_serves_any_batch_planner(data_dir):
    planner = ReversedPlanner()
    assert isinstance(planner, BatchPlanner)
    dm = ImageDataModule("mnist", str(data_dir), batch_size=300, train_subset=1000, test_subset=100)
    dm.attach(planner, seed=0)
    dm.load()
    assert planner.num_samples == 1000
    loader = dm.train_dataloader()
    batches = [batch["indices"] for batch in loader]
    assert len(loader) == 4 and [len(b) for b in batches] == [300, 300, 300, 100]
    assert torch.equal(torch.cat(batches), torch.arange(999, -1, -1))
