"""LEAP: the student trains on easy samples spread over the clusters of a Magnet-loss embedding.

Paper: "LEAP: Learning Embeddings for Adaptive Pace" (seeds/leap.txt), Algorithms 1-2, Eq. 1,
Table 1: LeNet student on MNIST 99.31 +- 0.06 % test accuracy (SPLD 99.20, Random 99.24).

Hyper-parameters (the reference's, see docs/leap.md): K = 8 clusters per class, batches of M = 8
clusters x D = 8 samples, Adam 1e-4, 2-D embedding, alpha = 1, refresh every pass over the data
(R = ceil(N / 64) steps), 15 passes (MNIST, Fashion-MNIST) or 30 (CIFAR, SVHN). The pace
(lambda0 = 0.1 nats, gamma0 = 0.5 nats, beta1 = beta2 = 1.1 per epoch) is ours: the paper gives
none (docs/leap.md says why these).

`mode="concurrent"` (the paper: the embedding learns alongside the student): after every student
update, `steps_per_update` embedding steps run in the same process on the same device (fractions
accumulate), until the embedding's `embedding_epochs` passes are done; each student epoch selects
with the clusters of the latest refresh. `mode="background"`: the same embedding steps, the same
number per epoch, run on a thread of their own while the student trains the epoch (torch ops
release the GIL, so on a CPU with a spare core, or on a GPU with the thread's own CUDA stream, they
overlap); the student waits for them at the epoch end, before it selects. The embedding draws its
random numbers from its own generators and is the only user of its network, so the result is the
concurrent mode's, bit for bit, whatever the threads' timing (tested). `mode="pretrained"` (the
authors' code, forced by `variant=authors_code`): the embedding trains all its steps before the
student's first update and its clusters stay fixed. The embedding's wall time per epoch is recorded
(`embedding_time_s`; in background mode also `embedding_wait_s`, the student's wait at the epoch
end), so its cost to the student is measured in every run.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from trainfix.core.records import atomic_write_text
from trainfix.core.seeding import derived_seed
from trainfix.strategies.leap.clusters import Clusters
from trainfix.strategies.leap.embedding import MagnetEmbedding
from trainfix.strategies.leap.paced import ClusterPaced

if TYPE_CHECKING:
    import pytorch_lightning as pl

log = logging.getLogger(__name__)

MODES = ("concurrent", "background", "pretrained")
EMBEDDING_FILE = "leap_embedding.csv"
EMBEDDING_POINTS = 2000  # samples written for the 2-D plot (a fixed seeded draw)
# The `strategy.*` keys that configure the embedding: MagnetEmbedding's arguments but those Leap sets itself
# (clusters_per_class is ClusterPaced's too, code_epsilons follows the variant) and its internal batch size.
EMBEDDING_OPTIONS = tuple(
    key
    for key in inspect.signature(MagnetEmbedding).parameters
    if key not in ("clusters_per_class", "code_epsilons", "embed_batch")
)


class Leap(ClusterPaced):
    """LEAP (see the module docstring); selection and pace arguments as `ClusterPaced`.

    Args:
        mode: "concurrent" (paper, same thread), "background" (paper, own thread) or "pretrained" (the code).
        steps_per_update: embedding steps per student update in concurrent and background modes (> 0).
        options: `MagnetEmbedding`'s arguments (`EMBEDDING_OPTIONS`: network, embedding_dim, ...), the
            rest `ClusterPaced`'s; `clusters_per_class` serves both.
    """

    FORWARDED_OPTIONS = EMBEDDING_OPTIONS  # passed on to MagnetEmbedding (train.py names them in its errors)

    name = "leap"

    def __init__(self, mode: str = "concurrent", steps_per_update: float = 1.0, **options: Any) -> None:
        embedding = {key: options.pop(key) for key in EMBEDDING_OPTIONS if key in options}
        super().__init__(**options)
        if mode not in MODES:
            raise ValueError(f"strategy.mode={mode!r} is not accepted; use one of {list(MODES)}")
        if not isinstance(steps_per_update, int | float) or steps_per_update <= 0:
            raise ValueError(f"strategy.steps_per_update={steps_per_update!r}: must be a number > 0")
        code = self.variant == "authors_code"
        self.mode = "pretrained" if code else mode
        self.steps_per_update = float(steps_per_update)
        if code:
            embedding["sigma_power"] = 4
        self.embedding = MagnetEmbedding(clusters_per_class=self.clusters_per_class, code_epsilons=code, **embedding)
        self._pending: dict[str, Any] | None = None
        self._worker: EmbeddingWorker | None = None

    def bind(self, num_samples: int, batch_size: int, seed: int) -> None:
        super().bind(num_samples, batch_size, seed)
        self.credit = 0.0

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self.embedding.net is None:
            self.embedding.setup(trainer.datamodule, module.device, self.num_samples, self.seed)
        if self._pending is not None:  # a checkpoint was restored before the network existed
            self.embedding.load_state_dict(self._pending)
            self._pending = None
        if self.mode == "pretrained" and not self.embedding.done:
            log.info(
                "LEAP: training the embedding first (%d Magnet-loss steps), then freezing its clusters",
                self.embedding.total_steps,
            )
            self.embedding.train_to_end()
        elif self.embedding.clusters is None:
            self.embedding.refresh()  # Algorithm 1: clusters before the first step

    def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self.mode != "concurrent" or self.embedding.done:
            return
        self.credit += self.steps_per_update
        while self.credit >= 1 and not self.embedding.done:
            self.embedding.step()
            self.credit -= 1

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self.mode != "background" or self.embedding.done:
            return
        self._wait()  # defensive: a worker never outlives its epoch
        steps = self.epoch_budget(self.num_batches())
        if steps:
            self._worker = EmbeddingWorker(self.embedding, steps)

    def epoch_budget(self, batches: int) -> int:
        """Embedding steps the concurrent mode would take over `batches` updates, with the same
        credit arithmetic (so both modes take the same steps); spends the credit."""
        steps, remaining = 0, self.embedding.total_steps - self.embedding.steps
        for _ in range(batches):
            if steps >= remaining:
                break
            self.credit += self.steps_per_update
            while self.credit >= 1 and steps < remaining:
                steps += 1
                self.credit -= 1
        return steps

    def _wait(self) -> float:
        """Join the background worker (re-raising its error); seconds the caller waited."""
        worker, self._worker = self._worker, None
        return 0.0 if worker is None else worker.join()

    def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._wait()

    def end_of_epoch(self, epoch: int, trainer: pl.Trainer, module: pl.LightningModule) -> dict[str, float]:
        waited = self._wait()
        clusters = self.embedding.clusters
        if trainer.world_size > 1:
            # Rank 0's clusters for everyone: the plans must not depend on floating-point noise between ranks.
            clusters = Clusters(
                *(
                    trainer.strategy.broadcast(t, src=0)
                    for t in (clusters.assignment, clusters.centres, clusters.cluster_class)
                )
            )
        self.clusters = clusters
        if trainer.is_global_zero:
            self._write_embedding(Path(trainer.default_root_dir))
        metrics = self.embedding.take_metrics()
        if self.mode == "background":
            metrics["embedding_wait_s"] = waited
        return metrics

    def current_clusters(self) -> Clusters:
        assert self.clusters is not None, "end_of_epoch sets the clusters"
        return self.clusters

    def _write_embedding(self, run_dir: Path) -> None:
        """The 2-D view of the latest refresh: a fixed draw of samples (x, y, label, cluster) and the centres."""
        emb, clusters = self.embedding.embeddings, self.embedding.clusters
        if emb is None or emb.shape[1] < 2:
            return
        generator = torch.Generator().manual_seed(derived_seed(self.seed, "leap/plot"))
        idx = torch.randperm(len(emb), generator=generator)[:EMBEDDING_POINTS].sort().values
        lines = ["kind,index,x,y,label,cluster"]
        for i in idx.tolist():
            lines.append(
                f"sample,{i},{emb[i, 0]:.6g},{emb[i, 1]:.6g},"
                f"{int(self.embedding.labels[i])},{int(clusters.assignment[i])}"
            )
        for c in range(clusters.count):
            lines.append(
                f"centre,{c},{clusters.centres[c, 0]:.6g},{clusters.centres[c, 1]:.6g},"
                f"{int(clusters.cluster_class[c])},{c}"
            )
        atomic_write_text(run_dir / EMBEDDING_FILE, "\n".join(lines) + "\n")

    # --------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        self._wait()  # checkpoints are written at epoch ends, after the wait; never save a state in flight
        return {**super().state_dict(), "credit": self.credit, "embedding": self.embedding.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.credit = float(state["credit"])
        if self.embedding.net is None:
            self._pending = state["embedding"]
        else:
            self.embedding.load_state_dict(state["embedding"])


class EmbeddingWorker:
    """Trains `steps` embedding steps on a daemon thread (on CUDA: on a stream of its own)."""

    def __init__(self, embedding: MagnetEmbedding, steps: int) -> None:
        self.embedding, self.steps = embedding, steps
        self.error: BaseException | None = None
        device = next(embedding.net.parameters()).device
        self.stream = torch.cuda.Stream(device) if device.type == "cuda" else None
        self.thread = threading.Thread(target=self._run, name="leap-embedding", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            if self.stream is None:
                for _ in range(self.steps):
                    self.embedding.step()
            else:
                with torch.cuda.stream(self.stream):
                    for _ in range(self.steps):
                        self.embedding.step()
        except BaseException as error:  # handed to the student's thread at the join
            self.error = error

    def join(self) -> float:
        start = time.perf_counter()
        self.thread.join()
        if self.stream is not None:
            torch.cuda.current_stream(self.stream.device).wait_stream(self.stream)
        if self.error is not None:
            raise RuntimeError(f"LEAP background embedding failed after {self.embedding.steps} steps") from self.error
        return time.perf_counter() - start
