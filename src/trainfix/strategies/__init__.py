"""Training strategies: how batches are planned and per-sample losses reduced."""

from trainfix.strategies.base import Reduction, Strategy
from trainfix.strategies.baseline import Baseline
from trainfix.strategies.shuffle import Shuffle

STRATEGIES: dict[str, type[Strategy]] = {
    "baseline": Baseline,
    "shuffle": Shuffle,
}

__all__ = ["STRATEGIES", "Baseline", "Reduction", "Shuffle", "Strategy"]
