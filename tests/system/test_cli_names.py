"""The command line end to end (issue 28.3-4): a readable run folder that every next step takes as a plain path,
a folder named the old way found again by its hash, rerun=true, a quiet run, one-line config errors that leave no
folder, and TAB completion of `trainfix`. LeNet-5, 1 epoch on 300 real MNIST images, CPU."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

RUN = [
    "trainer.accelerator=cpu",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
    "data.train_subset=300",
    "data.test_subset=200",
    "data.batch_size=100",
    "data.eval_batch_size=200",
]
NOISE = ("Warning", "warn(", "Tip:", "Traceback", "anonymous")


def test_run_folder_names_paths_rerun_and_quiet_output(cli, data_dir, tmp_path):
    command = cli.train(*RUN, f"paths.data_dir={data_dir}", f"paths.runs_dir={tmp_path}")
    first = cli.run(command, check=True)
    (folder,) = (tmp_path / "train").iterdir()
    assert re.fullmatch(r"baseline-lenet5-mnist-s0-[0-9a-f]{8}", folder.name), folder.name
    output = first.stdout + first.stderr
    assert not [line for line in output.splitlines() if any(word in line for word in NOISE)], output[-3000:]
    digest = folder.name[-8:]

    # A folder named before readable names (the command-line overrides, `=` and `,`) is found by its hash.
    old = folder.with_name(f"data.batch_size=100,data.train_subset=300,trainer.max_epochs=1-{digest}")
    folder.rename(old)
    started_by = (old / ".hydra" / "overrides.yaml").read_text()
    respelled = cli.train(*reversed(RUN), f"paths.data_dir={data_dir}", f"paths.runs_dir={tmp_path}")
    again = cli.run(respelled, check=True)
    assert [p.name for p in (tmp_path / "train").iterdir()] == [old.name]
    assert f"Skipping {old}: already finished; rerun=true runs it again" in again.stdout + again.stderr
    # Hydra's files of the invocation that trained stay; the skip's own went to .hydra/invocations/<time>-<pid>/
    assert (old / ".hydra" / "overrides.yaml").read_text() == started_by
    (skipped,) = (old / ".hydra" / "invocations").iterdir()
    assert (skipped / "overrides.yaml").read_text() != started_by and "trainer.max_epochs=1" in started_by

    # Every tool takes that folder as a plain path: positional, or run_dir= unquoted.
    for argv in ([str(old)], [f"run_dir={old}"]):
        done = cli.run([sys.executable, "-m", "trainfix.eval", *argv, f"out={tmp_path / 'eval.json'}"], check=True)
        assert "identical at metrics.csv's precision" in done.stdout, done.stdout
        assert json.loads((tmp_path / "eval.json").read_text())["matches_recorded"] is True

    first_record = json.loads((old / "run.json").read_text())
    rerun = cli.run([*command, "rerun=true"], check=True)
    assert "rerun=true: the finished run moved to" in rerun.stdout + rerun.stderr
    previous = json.loads((old / "previous" / "1" / "run.json").read_text())
    assert previous["start_time"] == first_record["start_time"]  # the finished run, kept as it was
    assert (old / "previous" / "1" / ".hydra" / "overrides.yaml").read_text() == started_by  # with its Hydra files
    assert (old / ".hydra" / "overrides.yaml").read_text().endswith("- rerun=true\n")  # the rerun's are the run's
    record = json.loads((old / "run.json").read_text())
    assert record["status"] == "finished" and record["start_time"] != first_record["start_time"]
    # each attempt records its invocation's overrides, as the run's .hydra/overrides.yaml lists them
    assert [f"- {o}\n" for o in first_record["attempts"][0]["overrides"]] == started_by.splitlines(keepends=True)
    assert record["attempts"][-1]["overrides"][-1] == "rerun=true"
    assert [p.name for p in (tmp_path / "train").iterdir()] == [old.name]


def test_config_errors_are_one_line_exit_2_and_leave_no_folder(cli, data_dir, tmp_path):
    base = [f"paths.data_dir={data_dir}", f"paths.runs_dir={tmp_path}"]
    cases = {
        "trainer.max_epoch=1": "trainer.max_epoch: no such key; did you mean trainer.max_epochs?",
        "+trainer.max_epoch=1": "did you mean trainer.max_epochs=1?",
        "strategy=deepeutaxi": "did you mean strategy=deepeutaxy",
        "optimizer.lr=-1": "optimizer.lr=-1",  # refused by the config rules, in the task: its folder goes too
    }
    for override, phrase in cases.items():
        done = cli.run(cli.train(*RUN, *base, override))
        assert done.returncode == 2, (override, done.stdout + done.stderr)
        assert phrase in done.stderr + done.stdout, (override, done.stderr)
        assert "Traceback" not in done.stderr
    done = cli.run(cli.train(*RUN, *base, "++trainer.max_epoch=1"))
    assert done.returncode == 2 and "trainer.max_epoch: not an argument of" in done.stdout + done.stderr
    assert "did you mean trainer.max_epochs?" in done.stdout + done.stderr
    assert not (tmp_path / "train").exists() or not list((tmp_path / "train").iterdir())


def test_trainfix_completion_completes_commands_keys_and_options(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "trainfix"
    script.write_text(f'#!/bin/sh\nexec {sys.executable} -m trainfix "$@"\n')
    script.chmod(0o755)
    checks = {
        "trainfix tr": "train",
        "trainfix train strategy=sp": "strategy=spl strategy=spl_deepeutaxy strategy=spld",
        "trainfix train data.batch": "data.batch_size=",
        "trainfix ev": "eval evidence",
        "trainfix evidence fi": "findings",
    }
    lines = ['eval "$(trainfix --completion bash)"']
    for line in checks:
        lines += [
            f'COMP_LINE="{line}"; COMP_POINT=${{#COMP_LINE}}; COMP_WORDS=($COMP_LINE)',
            'COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); _trainfix_complete; echo "${COMPREPLY[*]}"',
        ]
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "WANDB_MODE": "offline"}
    done = subprocess.run(
        ["bash", "-c", "\n".join(lines)], capture_output=True, text=True, env=env, cwd=Path(__file__).parents[2]
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == list(checks.values())


def test_trainfix_evidence_is_the_evidence_command(tmp_path):
    """`trainfix evidence copy` (the name docs/usage.md gives) runs `python -m trainfix.evidence`: a bad folder is
    one line and exit status 2."""
    done = subprocess.run(
        [sys.executable, "-m", "trainfix", "evidence", "copy", str(tmp_path / "nowhere"), str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        env={**os.environ, "WANDB_MODE": "offline"},
    )
    assert done.returncode == 2, done.stderr
    expected = f"error: runs folder {tmp_path / 'nowhere'} does not exist; expected the folder a sweep wrote its runs"
    assert done.stderr == expected + " into\n"
    assert not (tmp_path / "runs").exists()
