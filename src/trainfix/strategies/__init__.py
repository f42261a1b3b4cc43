"""Training strategies: how batches are planned and per-sample losses reduced."""

from trainfix.strategies.base import Reduction, Strategy
from trainfix.strategies.baseline import Baseline
from trainfix.strategies.deepeutaxy import DeepEutaxy
from trainfix.strategies.leap import Leap, RandomSubset, Spld
from trainfix.strategies.loss_threshold import LossThreshold
from trainfix.strategies.shuffle import Shuffle
from trainfix.strategies.spl import SelfPaced
from trainfix.strategies.spl_deepeutaxy import SelfPacedDeepEutaxy
from trainfix.strategies.trimming import Trimming

STRATEGIES: dict[str, type[Strategy]] = {
    "baseline": Baseline,
    "shuffle": Shuffle,
    "deepeutaxy": DeepEutaxy,
    "spl": SelfPaced,
    "spl_deepeutaxy": SelfPacedDeepEutaxy,
    "leap": Leap,
    "spld": Spld,
    "random_subset": RandomSubset,
    "trimming": Trimming,
    "loss_threshold": LossThreshold,
}

__all__ = [
    "STRATEGIES",
    "Baseline",
    "DeepEutaxy",
    "Leap",
    "LossThreshold",
    "RandomSubset",
    "Reduction",
    "SelfPaced",
    "SelfPacedDeepEutaxy",
    "Shuffle",
    "Spld",
    "Strategy",
    "Trimming",
]
