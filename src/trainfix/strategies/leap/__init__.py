"""LEAP (Learning Embeddings for Adaptive Pace), SPLD and Random: cluster-paced sample selection.

seeds/leap.txt: the embedding CNN (Magnet loss, Eq. 1, Algorithm 1) sorts the training set into K
clusters per class; the student (Algorithm 2) trains each epoch on the samples that are easy
(low stored loss) and spread over the clusters. Modules, in the order they run:
`magnet` (Eq. 1), `clusters` (k-means++ per class, neighbourhood sampling), `embedding` (the
embedding CNN's training: concurrent, background or pretrained), `selection` (Algorithm 2's rule, the code's
first-K rule, the pace), `paced` (the strategy core every variant shares), then the strategies
`leap`, `spld` and `random_subset`.
"""

from trainfix.strategies.leap.leap import Leap
from trainfix.strategies.leap.random_subset import RandomSubset
from trainfix.strategies.leap.spld import Spld

__all__ = ["Leap", "RandomSubset", "Spld"]
