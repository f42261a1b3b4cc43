"""Faults and bad inputs, each tried through the CLI as a user meets it (see conftest.py)."""

from __future__ import annotations

import inspect
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import epochs_checkpointed, kill_after_checkpoint, process_running
from tests.reliability.conftest import CLI, cli, metrics_without_timing, run_cli, start_cli
from trainfix.runs.lock import read_holder
from trainfix.runs.orphan import stop_when_parent_dies
from trainfix.train import EXIT_CONFIG, EXIT_DATA, EXIT_STORAGE


def _wait_for(condition, what: str, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _run_json(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def _assert_identical(run_dir: Path, reference: Path) -> None:
    pd.testing.assert_frame_equal(metrics_without_timing(reference), metrics_without_timing(run_dir), check_exact=True)


def _assert_clear_refusal(done: subprocess.CompletedProcess, status: int, *phrases: str) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == status, f"exit {done.returncode}, expected {status}:\n{output[-3000:]}"
    assert "Traceback" not in output, output[-3000:]
    for phrase in phrases:
        assert phrase in output, f"{phrase!r} not in:\n{output[-3000:]}"


# ------------------------------------------------------------------------------- process faults
def test_kill_9_at_several_points_resumes_to_identical_metrics(
    fault, data_dir, tmp_path, reference, kill_after_checkpoint
):
    """kill -9 before the first checkpoint, then after epochs 1 and 2: each re-invocation resumes."""
    fault.expect("recovered identically")
    run_dir = tmp_path / "run"

    def started(folder: Path) -> bool:
        return (folder / "run.json").exists() and _run_json(folder)["status"] == "running"

    for killed_after in (0, 1, 2):
        kill_after_checkpoint(
            start_cli(cli(run_dir, data_dir)),
            run_dir,
            epochs=killed_after,
            until=started if killed_after == 0 else None,
        )
    done = run_cli(cli(run_dir, data_dir))
    assert done.returncode == 0, done.stderr[-3000:]
    _assert_identical(run_dir, reference)
    attempts = _run_json(run_dir)["attempts"]
    assert [a["outcome"] for a in attempts] == ["killed"] * 3 + ["finished"]
    assert attempts[-1]["action"] == "resume"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_gracefully_as_interrupted_and_resumes(
    fault, data_dir, tmp_path, reference, signum, kill_after_checkpoint
):
    fault.expect("recovered identically")
    run_dir = tmp_path / "run"
    kill_after_checkpoint(start_cli(cli(run_dir, data_dir)), run_dir, signum=signum)
    record = _run_json(run_dir)
    assert record["status"] == "interrupted", record["status"]
    done = run_cli(cli(run_dir, data_dir))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "previous attempt interrupted: resuming from" in done.stdout + done.stderr
    _assert_identical(run_dir, reference)
    assert [a["outcome"] for a in _run_json(run_dir)["attempts"]] == ["interrupted", "finished"]


def _waiting_for_a_lock(pid: int) -> bool:
    """Whether process `pid` is blocked in flock() (a `->` line of /proc/locks names it)."""
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "->" in fields and fields[fields.index("->") + 4] == str(pid):
            return True
    return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_kill_9_of_a_joblib_sweep_stops_its_workers_and_the_sweep_resumes(fault, data_dir, tmp_path):
    """kill -9 of a sweep's parent process: its joblib worker stops the run as interrupted (it does not train
    on as an orphan), and the sweep invoked again resumes it to an uninterrupted run's metrics.

    The worker is held (SIGSTOP) from its first checkpoint until its watcher's next look at its parent is due
    after the kill, then let go: however fast the machine, the kill lands mid-run and the worker has to find
    out by itself (trainfix.runs.orphan), in a run of a few seconds."""
    fault.expect("recovered identically")
    epochs = 12

    def sweep(root: Path) -> list[str]:
        single = cli(root, data_dir, epochs=epochs)
        kept = (a for a in single[3:] if not a.startswith("hydra.run.dir="))
        # n_jobs=2: joblib runs even one job in a loky worker then (n_jobs=1 runs it in the parent itself)
        return [
            *single[:3],
            "-m",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
            f"paths.multirun_dir={root}",
            "task_name=sweep",
            *kept,
        ]

    with open(tmp_path / "killed.log", "w") as log:  # a file: the worker outlives the parent, holding its output
        parent = CLI.start(sweep(tmp_path / "killed"), stdout=log, stderr=subprocess.STDOUT)
    runs = lambda: list((tmp_path / "killed" / "sweep").glob("*/run.json"))  # noqa: E731
    _wait_for(lambda: len(runs()) == 1 and epochs_checkpointed(runs()[0].parent) >= 1, "the worker's first checkpoint")
    run_dir = runs()[0].parent
    worker = json.loads((run_dir / ".lock").read_text())["pid"]
    assert worker != parent.pid and process_running(worker)
    os.kill(worker, signal.SIGSTOP)
    try:
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=60)
        time.sleep(inspect.signature(stop_when_parent_dies).parameters["poll_s"].default + 0.5)
    finally:
        os.kill(worker, signal.SIGCONT)
    _wait_for(lambda: not process_running(worker), "the orphaned worker to stop", timeout=120)
    assert _run_json(run_dir)["status"] == "interrupted"
    assert epochs_checkpointed(run_dir) < epochs, "the worker stopped before the run's end"
    again = run_cli(sweep(tmp_path / "killed"))
    assert again.returncode == 0, again.stderr[-3000:]
    assert [a["outcome"] for a in _run_json(run_dir)["attempts"]] == ["interrupted", "finished"]
    whole = run_cli(cli(tmp_path / "whole", data_dir, epochs=epochs))  # the same configuration, uninterrupted
    assert whole.returncode == 0, whole.stderr[-3000:]
    _assert_identical(run_dir, tmp_path / "whole")


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="reads the processes waiting for a lock from /proc/locks")
def test_second_process_on_a_running_run_skips_and_says_where_it_runs(fault, data_dir, tmp_path, reference):
    """While a run trains (held by SIGSTOP from the moment it holds the run's lock, so it is still running
    whatever the machine's speed), a second process on its folder skips it and names the first one; a third,
    with run_lock.wait=true, waits for the lock and then skips the run as finished. The run ends as an
    uninterrupted one."""
    fault.expect("recovered identically")
    run_dir = tmp_path / "run"
    first = start_cli(cli(run_dir, data_dir))
    _wait_for(lambda: read_holder(run_dir).get("pid") == first.pid, "the first process to take the run's lock")
    first.send_signal(signal.SIGSTOP)
    try:
        second = run_cli(cli(run_dir, data_dir))
        output = second.stdout + second.stderr
        assert second.returncode == 0, output[-3000:]
        assert f"being trained by another process (pid {first.pid} on host {socket.gethostname()}" in output
        waiting = start_cli(cli(run_dir, data_dir, "run_lock.wait=true"))
        _wait_for(lambda: _waiting_for_a_lock(waiting.pid), "the third process to wait for the run's lock")
    finally:
        first.send_signal(signal.SIGCONT)
    first.communicate(timeout=600)
    out, err = waiting.communicate(timeout=600)
    assert first.returncode == 0 and waiting.returncode == 0, err[-3000:]
    assert "already finished" in out + err
    assert [a["outcome"] for a in _run_json(run_dir)["attempts"]] == ["finished"]
    _assert_identical(run_dir, reference)


# ---------------------------------------------------------------------------- damaged checkpoints
def _killed_after(run_dir: Path, data_dir: Path, epochs_done: int) -> None:
    kill_after_checkpoint(
        start_cli(cli(run_dir, data_dir)),
        run_dir,
        epochs=epochs_done,
        until=lambda folder: (folder / "checkpoints" / "previous.ckpt").exists(),
    )


def test_corrupted_last_checkpoint_resumes_from_the_previous_one(fault, data_dir, tmp_path, reference):
    fault.expect("recovered identically")
    run_dir = tmp_path / "run"
    _killed_after(run_dir, data_dir, 2)
    last = run_dir / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 3])  # truncated, as by a full disk or a bad copy
    done = run_cli(cli(run_dir, data_dir))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Damaged checkpoint" in done.stdout + done.stderr and "previous.ckpt" in done.stdout + done.stderr
    _assert_identical(run_dir, reference)
    attempt = _run_json(run_dir)["attempts"][-1]
    assert "last.ckpt could not be loaded" in attempt["checkpoint_problems"][0]
    assert list((run_dir / "checkpoints").glob("last.ckpt.damaged-*")), "the damaged file is kept aside"


def test_no_usable_checkpoint_restarts_from_scratch(fault, data_dir, tmp_path, reference):
    fault.expect("recovered identically")
    run_dir = tmp_path / "run"
    _killed_after(run_dir, data_dir, 2)
    for name in ("last.ckpt", "previous.ckpt"):
        (run_dir / "checkpoints" / name).write_bytes(b"not a checkpoint")
    done = run_cli(cli(run_dir, data_dir))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "starting from epoch 0" in done.stdout + done.stderr
    _assert_identical(run_dir, reference)
    assert len(_run_json(run_dir)["attempts"][-1]["checkpoint_problems"]) == 2


# ------------------------------------------------------------------------------- machine faults
@pytest.fixture
def tiny_fs(tmp_path):
    """A tmpfs of a given size mounted for the test (root with mount rights only; else the test skips)."""
    mounts = []

    def make(size_kib: int) -> Path:
        point = tmp_path / f"fs{len(mounts)}"
        point.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(point)], capture_output=True, text=True
        )
        if done.returncode != 0:
            pytest.skip(
                f"cannot mount a small file system here ({done.stderr.strip()}); the patched-writer case covers it"
            )
        mounts.append(point)
        return point

    yield make
    for point in mounts:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def test_read_only_output_location_is_refused_before_training(fault, data_dir, tiny_fs):
    fault.expect("refused with a clear message")
    point = tiny_fs(4096)
    (point / "runs").mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(point)], check=True)
    done = run_cli(cli(point / "runs" / "run", data_dir))
    _assert_clear_refusal(done, EXIT_STORAGE, "Read-only file system", "paths.runs_dir")


def test_disk_full_mid_run_keeps_records_and_resumes_once_there_is_space(fault, data_dir, tiny_fs, reference):
    fault.expect("recovered identically")
    checkpoint = (reference / "checkpoints" / "last.ckpt").stat().st_size
    # Room for about two checkpoints: the third one (epoch 2's, beside last and previous) fills it.
    point = tiny_fs(checkpoint * 5 // 2 // 1024)
    run_dir = point / "run"
    done = run_cli(cli(run_dir, data_dir))
    _assert_clear_refusal(done, EXIT_STORAGE, "No space left on device", "the same command resumes the run")
    kept = torch_epoch(run_dir / "checkpoints" / "last.ckpt")
    assert kept >= 1 and len(pd.read_csv(run_dir / "metrics.csv")) >= kept
    subprocess.run(["mount", "-o", "remount,size=64m", str(point)], check=True)  # space freed
    again = run_cli(cli(run_dir, data_dir))
    assert again.returncode == 0, again.stderr[-3000:]
    _assert_identical(run_dir, reference)


def torch_epoch(path: Path) -> int:
    import torch

    return int(torch.load(path, map_location="cpu", weights_only=False)["epoch"])


def test_disk_full_mid_run_with_a_patched_writer(fault, tiny_cfg, tmp_path, monkeypatch):
    """Where no file system can be mounted: the checkpoint write of epoch 2 fails with ENOSPC."""
    import errno

    from trainfix.train import _classify, train
    from trainfix.training.callbacks.checkpoint import LastCheckpoint

    fault.expect("recovered identically")
    run_dir = tmp_path / "run"
    clean = tiny_cfg("strategy=shuffle", "trainer.max_epochs=3", run_dir=tmp_path / "clean")
    train(clean)
    original = LastCheckpoint.on_train_epoch_end

    def full_at_epoch_2(self, trainer, pl_module):
        if trainer.current_epoch == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        original(self, trainer, pl_module)

    monkeypatch.setattr(LastCheckpoint, "on_train_epoch_end", full_at_epoch_2)
    with pytest.raises(OSError) as raised:
        train(tiny_cfg("strategy=shuffle", "trainer.max_epochs=3", run_dir=run_dir))
    outcome, status, message = _classify(raised.value, run_dir)
    assert (outcome, status) == ("storage error", EXIT_STORAGE) and "No space left on device" in message
    assert torch_epoch(run_dir / "checkpoints" / "last.ckpt") == 1
    monkeypatch.setattr(LastCheckpoint, "on_train_epoch_end", original)
    train(tiny_cfg("strategy=shuffle", "trainer.max_epochs=3", run_dir=run_dir))
    _assert_identical(run_dir, tmp_path / "clean")


# ------------------------------------------------------------------------------ bad data, config
def test_truncated_dataset_file_is_named(fault, data_dir, tmp_path):
    fault.expect("refused with a clear message")
    root = tmp_path / "data"
    shutil.copytree(data_dir / "MNIST", root / "MNIST")
    images = root / "MNIST" / "raw" / "train-images-idx3-ubyte"
    os.truncate(images, 1000)
    done = run_cli(cli(tmp_path / "run", root))
    _assert_clear_refusal(done, EXIT_DATA, "train-images-idx3-ubyte")


def test_missing_dataset_lists_the_files_expected(fault, data_dir, tmp_path):
    fault.expect("refused with a clear message")
    done = run_cli(cli(tmp_path / "run", tmp_path / "nowhere"))
    _assert_clear_refusal(done, EXIT_DATA, "train-images-idx3-ubyte", str(tmp_path / "nowhere"))
    assert not (
        tmp_path / "run"
    ).exists()  # a single run refused before it started leaves no folder (in a sweep: failed)


@pytest.mark.parametrize(
    "override,phrases",
    [
        ("optimizer.lr=inf", ["optimizer.lr=inf: must be a finite number"]),
        ("seed=100000000000000000000", ["seed=100000000000000000000", "0..4294967295"]),
        ("model=resnet99", ["resnet99", "lenet5"]),  # Hydra's own message lists the options
        ("data.batchsize=10", ["batchsize"]),
    ],
    ids=["non-finite-lr", "seed-out-of-range", "unknown-option", "unknown-key"],
)
def test_bad_configuration_exits_2_with_the_message_alone(fault, data_dir, tmp_path, override, phrases):
    fault.expect("refused with a clear message")
    done = run_cli(cli(tmp_path / "run", data_dir, override))
    _assert_clear_refusal(done, EXIT_CONFIG, *phrases)


def test_diverging_learning_rate_ends_as_diverged_and_is_then_skipped(fault, data_dir, tmp_path):
    fault.expect("refused with a clear message")
    run_dir = tmp_path / "run"
    args = cli(run_dir, data_dir, "optimizer=sgd", "optimizer.lr=1e12")
    first = run_cli(args)
    assert first.returncode == 0, first.stderr[-3000:]
    assert _run_json(run_dir)["status"] == "diverged"
    again = run_cli(args)
    assert "already diverged" in again.stdout + again.stderr
