"""W&B offline, read back from the files a real run writes: tags, the epoch axis, the model artifact, the mode
chosen without WANDB_MODE; and a run's records readable by the group when the umask allows it.

A tiny in-process run: LeNet-5, 1 epoch, 1,000 real MNIST images, CPU. (A W&B run over a kill and resume from
the CLI: tests/system/test_logging_cli.py, which reads its files with `offline_run` below.)
"""

from __future__ import annotations

import json
import os
import stat
import struct
import time
from pathlib import Path

import pandas as pd
import pytest

from trainfix.train import train


# ------------------------------------------------------------------ W&B offline files
def read_wandb_records(path: Path) -> list:
    """The records of an offline run's `.wandb` file, as `wandb_internal_pb2.Record` messages.

    An offline run keeps everything in this one file (no `files/config.yaml` or `wandb-summary.json` until
    `wandb sync`), and wandb 0.31 ships no Python reader for it (`wandb.sdk.internal.datastore` is gone),
    so this reads the format it writes: a 7-byte header (":W&B", magic 0xBEE1, version 0), then a
    LevelDB-style log of 32 KiB blocks whose chunks have a 7-byte header (CRC32, length, type
    1=full, 2=first, 3=middle, 4=last); each record is a protobuf message of `wandb.proto`.
    """
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B" and struct.unpack("<HB", data[4:7]) == (0xBEE1, 0), f"{path} is not a W&B log"
    block, pos, pending, payloads = 32768, 7, b"", []
    while pos + 7 <= len(data):
        space = block - pos % block
        if space < 7:  # the writer pads a block's tail that cannot hold a chunk header
            pos += space
            continue
        length, kind = struct.unpack("<HB", data[pos + 4 : pos + 7])
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 1:
            payloads.append(chunk)
        elif kind == 2:
            pending = chunk
        elif kind == 3:
            pending += chunk
        elif kind == 4:
            payloads.append(pending + chunk)
        else:
            break  # zero padding at the end of a file still being written
    records = []
    for payload in payloads:
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        records.append(record)
    return records


def offline_run(folder: Path) -> dict:
    """Id, name, project, entity, group, job type, tags, config, history rows, summary, metric definitions
    (`define_metric`, later calls for a name overwriting earlier ones) and artifacts of one offline-run folder."""
    (log_file,) = folder.glob("*.wandb")
    run: dict = {"config": {}, "history": [], "summary": {}, "metrics": {}, "artifacts": []}
    # wandb-core (a separate process) writes the file, and may still be writing after `wandb.finish()` returns:
    # seen in full suites on a loaded machine, read before its first block was flushed, and read before the final
    # summary was. Wait (at most 60 s) for the `exit` record that ends a finished run's file, then read it all.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
        r.WhichOneof("record_type") == "exit" for r in read_wandb_records(log_file)
    ):
        time.sleep(0.5)

    def items(updates) -> dict:
        return {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in updates}

    for record in read_wandb_records(log_file):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.update(
                id=record.run.run_id,
                name=record.run.display_name,
                project=record.run.project,
                entity=record.run.entity,
                group=record.run.run_group,
                job_type=record.run.job_type,
                tags=list(record.run.tags),
            )
        elif kind == "config":
            run["config"].update(items(record.config.update))
        elif kind == "history":
            run["history"].append(items(record.history.item))
        elif kind == "summary":
            run["summary"].update(items(record.summary.update))
        elif kind == "metric":
            metric = record.metric
            run["metrics"][metric.name or metric.glob_name] = {
                "step_metric": metric.step_metric,
                "hidden": metric.options.hidden,
            }
        elif kind == "artifact":
            artifact = record.artifact
            run["artifacts"].append(
                {
                    "name": artifact.name,
                    "type": artifact.type,
                    "aliases": list(artifact.aliases),
                    "metadata": json.loads(artifact.metadata or "{}"),
                    "files": {entry.path: entry.size for entry in artifact.manifest.contents},
                }
            )
    return run


# ------------------------------------------------------------------ a tiny real run
def test_an_offline_wandb_run_has_true_tags_the_epoch_axis_and_the_model_artifact(tiny_cfg, tmp_path, monkeypatch):
    """Without WANDB_MODE and without credentials the run is offline; its files hold the tags of what ran
    (1,000 images set on the command line: profile=custom), every metric on the `epoch` axis, the entity and
    project asked for, and with log_model the final checkpoint as a model artifact. The umask (027) decides
    who may read the records: the group, not others."""
    for variable in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / "wandb-data"))  # the artifact's staged copy
    from trainfix.training.logger_setup import wandb_credentials

    if wandb_credentials() is not None:
        pytest.skip(f"W&B credentials on this machine ({wandb_credentials()}): the no-login default cannot be seen")
    run_dir = tmp_path / "lenet5-mnist-s0"
    cfg = tiny_cfg(
        "logger=wandb",
        "logger.wandb.log_model=true",
        "logger.wandb.entity=my-team",
        "logger.wandb.project=trainfix-tests",
        "trainer.max_epochs=2",
        "data.train_subset=1000",
        "tags=[smoke]",
        run_dir=run_dir,
    )
    from fsspec.implementations.local import get_umask

    # Lightning writes checkpoints through fsspec, which caches the umask it first saw in this process (an
    # earlier test's): clear it so the checkpoint is written under this test's umask, as in a fresh process.
    get_umask.cache_clear()
    old = os.umask(0o027)
    try:
        train(cfg)
    finally:
        os.umask(old)
        get_umask.cache_clear()

    (folder,) = (run_dir / "wandb").glob("offline-run-*")  # offline, chosen by trainfix: WANDB_MODE was unset
    run = offline_run(folder)
    record = json.loads((run_dir / "run.json").read_text())
    assert run["id"] == record["wandb_id"] and run["name"] == "lenet5-mnist-s0"  # the run folder's name
    assert run["entity"] == "my-team" and run["project"] == "trainfix-tests"
    assert sorted(run["tags"]) == sorted(
        ["smoke", "profile=custom", "strategy=baseline", "variant=paper", "seed=0", "model=lenet5", "data=mnist"]
    )
    # One x-axis: `epoch` for every metric (Lightning's `trainer/global_step` axis overwritten and hidden).
    assert run["metrics"]["*"] == {"step_metric": "epoch", "hidden": False}
    assert run["metrics"]["trainer/global_step"]["hidden"] is True
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert [row["epoch"] for row in run["history"]] == metrics["epoch"].tolist() == [0, 1]
    assert [row["test_acc"] for row in run["history"]] == pytest.approx(metrics["test_acc"].tolist(), rel=1e-6)
    assert run["summary"]["status"] == "finished" and run["summary"]["epochs_completed"] == 2
    # The final checkpoint, as Lightning's WandbLogger(log_model=True) names it.
    (artifact,) = run["artifacts"]
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    assert (
        artifact["name"] == f"model-{run['id']}" and artifact["type"] == "model" and artifact["aliases"] == ["latest"]
    )
    assert artifact["files"] == {"model.ckpt": checkpoint.stat().st_size}
    assert artifact["metadata"]["epoch"] == 1 and artifact["metadata"]["status"] == "finished"
    assert artifact["metadata"]["test_acc"] == pytest.approx(metrics["test_acc"].iloc[-1], rel=1e-6)

    # Records under umask 027: the group reads them, others do not.
    records = [run_dir / name for name in ("run.json", "metrics.csv", "convergence.json")] + [checkpoint]
    for path in records:
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path
