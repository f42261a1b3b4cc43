"""DDP on 2 CPU processes (gloo): each rank trains its slice of every global batch of the same plan,
and one epoch on 2 ranks gives the same weights as on 1 process."""

import os
from functools import partial
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from tests.integration.cpu_ranks import fit_on_cpu_ranks
from trainfix.data.datamodule import ImageDataModule
from trainfix.models import build_model
from trainfix.strategies import Shuffle
from trainfix.training.module import Classifier

# gloo ranks: one DDP test at a time (2 ranks beside another worker's test already oversubscribe 2 cores;
# each process group binds a port)
pytestmark = pytest.mark.xdist_group("ddp")


def _weights(pl_module: pl.LightningModule) -> dict:
    """What each rank saves besides the indices it trained on (module level: the spawned ranks unpickle it)."""
    return {"weights": {k: v.cpu() for k, v in pl_module.net.state_dict().items()}}


def fit(data_dir: Path, out: Path, devices: int) -> Shuffle:
    out.mkdir(parents=True)
    pl.seed_everything(0)
    strategy = Shuffle()
    dm = ImageDataModule(
        "mnist", str(data_dir), batch_size=250, eval_batch_size=500, train_subset=1000, test_subset=500
    )
    dm.attach(strategy, seed=11)
    dm.load()
    net = build_model("lenet5", num_classes=10, in_channels=1, image_size=28)
    module = Classifier(net, strategy, 10, optimizer=partial(torch.optim.SGD, lr=0.1), eval_names=dm.eval_names)
    # fork: the plan and the gradient are under test here, not the launch (the tests below run
    # trainer=ddp_cpu's ddp_spawn through the entry point); spawn re-imports torch in each rank.
    fit_on_cpu_ranks(module, dm, out, devices, extra=_weights, ddp="ddp_fork")
    return strategy


def test_two_ranks_train_the_same_plan_as_one(data_dir, tmp_path):
    strategy = fit(data_dir, tmp_path / "one", devices=1)
    fit(data_dir, tmp_path / "two", devices=2)
    plan = [b.tolist() for epoch in range(2) for b in strategy.plan_epoch(epoch)]
    one = torch.load(tmp_path / "one" / "rank0.pt")
    r0, r1 = (torch.load(tmp_path / "two" / f"rank{r}.pt") for r in range(2))

    assert one["seen"] == plan
    assert len(r0["seen"]) == len(r1["seen"]) == len(plan) == 8
    for step, batch in enumerate(plan):
        assert r0["seen"][step] + r1["seen"][step] == batch
        assert len(r0["seen"][step]) == len(r1["seen"][step]) == 125

    # Loss normalized by the global batch: DDP's gradient mean equals the single-process gradient.
    for name, weight in one["weights"].items():
        torch.testing.assert_close(r0["weights"][name], weight, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(r1["weights"][name], r0["weights"][name], rtol=0, atol=0)


@pytest.mark.slow  # ddp_spawn: each rank imports torch and Lightning again
def test_ddp_cpu_run_through_hydra_matches_single_process(tiny_cfg, tmp_path):
    """`trainer=ddp_cpu` (2 spawned gloo ranks) through the real entry point: same records as 1 process."""
    import json

    import pandas as pd

    from trainfix.train import train

    columns = ["epoch", "global_step", "train_loss", "train_acc", "test_loss", "test_acc", "samples_seen"]
    train(tiny_cfg("seed=2", run_dir=tmp_path / "one"))
    train(tiny_cfg("seed=2", "trainer=ddp_cpu", "trainer.devices=2", run_dir=tmp_path / "two"))
    one = pd.read_csv(tmp_path / "one" / "metrics.csv")[columns]
    two = pd.read_csv(tmp_path / "two" / "metrics.csv")[columns]
    pd.testing.assert_frame_equal(one, two, rtol=1e-4)
    run = json.loads((tmp_path / "two" / "run.json").read_text())
    assert run["status"] == "finished" and run["world_size"] == 2
    assert (tmp_path / "two" / "checkpoints" / "last.ckpt").exists()


@pytest.mark.parametrize("frozen", [True, False], ids=["frozen-weights", "training"])
def test_de_scores_and_spl_selection_identical_on_two_ranks(tiny_cfg, tmp_path, frozen):
    """DE's scores and order, SPL's selection and the full-set gradient norm are the same for 1 and 2 gloo processes.

    With frozen weights (lr 1e-12: updates below float32 resolution) both runs score identical
    weights, so the scores match to float32 rounding (each rank's kernels see other batch shapes
    and may round differently: ~1e-7); while training, DDP's all-reduce also sums
    gradients in another order and the weights drift by rounding (order still equal).
    """
    import json

    import pandas as pd

    from trainfix.train import train

    optimizer = ["optimizer=sgd", "optimizer.lr=1.0e-12"] if frozen else []
    # forked ranks: the ranks' numbers are under test here, not the launch (spawn re-imports torch in each rank;
    # trainer=ddp_cpu's ddp_spawn through the entry point is the test above). Only with one OpenMP thread: a fork
    # after OpenMP ran threads in this process can hang in the child.
    launch = "ddp_fork" if os.environ.get("OMP_NUM_THREADS") == "1" else "ddp_spawn"
    two = ["trainer=ddp_cpu", "trainer.devices=2", f"trainer.strategy={launch}"]
    for name, extra in (("one", []), ("two", two)):
        train(
            tiny_cfg(
                "strategy=spl_deepeutaxy",
                "strategy.iter_count=1",
                "strategy.selection=text",
                "trainer.max_epochs=3",
                "convergence.full_gradient=true",
                "data.eval_train=true",
                *optimizer,
                *extra,
                run_dir=tmp_path / name,
            )
        )
    refreshes = {
        name: [json.loads(x) for x in (tmp_path / name / "de_refreshes.jsonl").read_text().splitlines()]
        for name in ("one", "two")
    }
    assert len(refreshes["one"]) == len(refreshes["two"]) == 2
    tolerance = {"rtol": 1e-5, "atol": 1e-5} if frozen else {"rtol": 0, "atol": 1e-3}
    for a, b in zip(refreshes["one"], refreshes["two"], strict=True):
        assert a["order"] == b["order"]
        torch.testing.assert_close(torch.tensor(a["scores"]), torch.tensor(b["scores"]), **tolerance)
    one, two = (pd.read_csv(tmp_path / name / "metrics.csv") for name in ("one", "two"))
    assert 0 < one["spl_selected_frac"].iloc[0] <= 1
    pd.testing.assert_series_equal(one["spl_selected_frac"], two["spl_selected_frac"], rtol=1e-6)
    pd.testing.assert_series_equal(one["spl_lambda"], two["spl_lambda"])
    # The full-set gradient: each rank sums every other chunk, all-reduced: the one-process number.
    assert one["grad_norm_full"].notna().all()
    torch.testing.assert_close(
        torch.tensor(one["grad_norm_full"].to_numpy()), torch.tensor(two["grad_norm_full"].to_numpy()), **tolerance
    )
    # train_eval_* come from that pass's logits (each rank its chunks, the metrics synced): the one-process numbers.
    assert one["train_eval_acc"].notna().all()
    torch.testing.assert_close(
        torch.tensor(one["train_eval_acc"].to_numpy()), torch.tensor(two["train_eval_acc"].to_numpy()), **tolerance
    )
    torch.testing.assert_close(
        torch.tensor(one["train_eval_loss"].to_numpy()), torch.tensor(two["train_eval_loss"].to_numpy()), **tolerance
    )
