"""LEAP killed and resumed through the CLI on real MNIST (CPU, tiny) is identical to an uninterrupted run:
embedding, clusters, stored losses, metrics, with the embedding on its background thread."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pandas as pd
import torch

from tests.conftest import compose_train, in_background, kill_after_checkpoint
from trainfix.train import train

# A pace that selects part of the data from the first epochs on; an embedding of 2 short passes, trained
# on its own thread (mode=background;
# tests/integration/test_leap_runs.py::test_leap_background_thread_equals_interleaving: the same run as
# mode=concurrent, so this test covers the resume of both).
LEAP_TINY = [
    "strategy=leap", "strategy.mode=background", "strategy.lambda0=1.0", "strategy.gamma0=1.0",
    "strategy.embedding_epochs=2", "strategy.kmeans_n_init=1", "strategy.clusters_per_class=3",
]  # fmt: skip
EPOCHS, SAMPLES, BATCH = 3, 500, 50


def _overrides(data_dir: Path) -> list[str]:
    return [
        *LEAP_TINY, f"paths.data_dir={data_dir}", "optimizer=sgd",
        "trainer.accelerator=cpu", "trainer.enable_progress_bar=false", f"trainer.max_epochs={EPOCHS}",
        f"data.train_subset={SAMPLES}", "data.test_subset=100", f"data.batch_size={BATCH}", "seed=5",
    ]  # fmt: skip


def test_leap_kill_and_resume_is_identical(data_dir, tmp_path, cli):
    # One process is SIGKILLed after its first epoch's checkpoint (the only subprocess: interpreter start-up is most of
    # this test's cost); the uninterrupted run (while it trains) and the resume run in this process, with the same
    # number of intra-op threads, so every number must be equal.
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    proc = cli.start(
        cli.train(*_overrides(data_dir), f"hydra.run.dir={killed}"),
        env={"OMP_NUM_THREADS": str(torch.get_num_threads())},
    )
    with in_background(kill_after_checkpoint, proc, killed):
        train(compose_train(_overrides(data_dir), clean))
    assert proc.returncode == -signal.SIGKILL and len(pd.read_csv(killed / "metrics.csv")) < EPOCHS
    train(compose_train(_overrides(data_dir), killed))
    run = json.loads((killed / "run.json").read_text())
    assert run["status"] == "finished" and run["attempts"][1]["action"] == "resume"

    a, b = (pd.read_csv(d / "metrics.csv") for d in (clean, killed))
    timing = [c for c in a.columns if c.endswith("_s")]
    pd.testing.assert_frame_equal(a.drop(columns=timing), b.drop(columns=timing), check_exact=True)
    assert a["selected_frac_next"].between(0.05, 0.999).any()  # the pace did select a part
    assert len(a) == EPOCHS
    steps = min(2 * 8, int(a["global_step"].iloc[-1]))  # R = ceil(500 / 64) = 8 steps, 2 passes, one per update
    assert a["embedding_steps"].iloc[-1] == steps and a["embedding_refreshes"].iloc[-1] == 1 + steps // 8
    # At an epoch's end the student waits for the embedding's thread only: some time after an epoch the embedding
    # stepped in, never more than the embedding's own time of that epoch (50 ms for the GIL's hand-overs), and none
    # at all after an epoch without a step (the embedding had taken all its steps: no thread was started).
    stepped = a["embedding_steps"].diff().fillna(a["embedding_steps"].iloc[0]) > 0
    assert (a.loc[stepped, "embedding_wait_s"] > 0).all() and (a.loc[~stepped, "embedding_wait_s"] == 0).all()
    assert (a["embedding_wait_s"] <= a["embedding_time_s"] + 0.05).all(), a[["embedding_wait_s", "embedding_time_s"]]
    sa, sb = (
        torch.load(d / "checkpoints" / "last.ckpt", weights_only=False)["trainfix"]["strategy"] for d in (clean, killed)
    )
    for key in ("stored", "selected"):
        assert torch.equal(sa[key], sb[key])
    assert sa["stored"].isnan().sum() < SAMPLES
    ea, eb = sa["embedding"], sb["embedding"]
    for name in ea["net"]:
        assert torch.equal(ea["net"][name], eb["net"][name])
    for key in ("assignment", "centres", "cluster_class"):
        assert torch.equal(ea["clusters"][key], eb["clusters"][key])
    assert torch.equal(ea["losses"].nan_to_num(-1.0), eb["losses"].nan_to_num(-1.0)) and not ea["losses"].isnan().all()
    assert (clean / "leap_embedding.csv").read_text() == (killed / "leap_embedding.csv").read_text()
