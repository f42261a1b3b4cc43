"""`trainfix-train --help` and bash completion, through the real entry point (in-process)."""

from __future__ import annotations

import sys

import pytest

from trainfix.train import cli
from trainfix.training.compose import CONF_DIR

# Groups that experiments and profiles select (or that hold Hydra's and the paths' own settings):
# not offered to users in --help.
INTERNAL_GROUPS = {"hydra", "paths", "strategy_tuning"}
USER_GROUPS = sorted(p.name for p in CONF_DIR.iterdir() if p.is_dir() and p.name not in INTERNAL_GROUPS)


def run_cli(monkeypatch, capsys, *argv: str) -> str:
    monkeypatch.setattr(sys, "argv", ["trainfix-train", *argv])
    try:
        cli()
    except SystemExit as done:  # --help exits 0 after printing
        assert done.code in (0, None)
    return capsys.readouterr().out


def test_help_lists_every_user_group_with_an_example_and_no_internal_group(monkeypatch, capsys):
    out = run_cli(monkeypatch, capsys, "--help")
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ") and line.split()}
    assert USER_GROUPS == sorted(
        [
            "callbacks",
            "convergence",
            "data",
            "debug",
            "experiment",
            "hparams_search",
            "logger",
            "model",
            "monitor",
            "optimizer",
            "profile",
            "scheduler",
            "strategy",
            "trainer",
        ]
    )
    for group in USER_GROUPS:
        assert group in lines, f"--help does not list the config group {group!r}"
        assert "trainfix-train " in lines[group] and f"{group}=" in lines[group], lines[group]
    assert "trainfix-train -m hparams_search=lenet5_mnist_optuna" in out
    assert (
        "strategy_tuning" not in out
        and "strategy/tuning" not in out
        and "strategy/profile" not in out
        and "profile/sizes" not in out
    )
    assert "trainfix-train -sc install=bash" in out
    # Each group's options, read from conf/ (trainfix.cli.options_line).
    assert "options: adadelta  adagrad  adam  adam_keras" in out
    assert "leap/table_1/{cifar10,cifar100,fashion_mnist,mnist,svhn}" in out


def test_bash_completion_offers_group_options(monkeypatch, capsys):
    line = "trainfix-train debug="
    monkeypatch.setenv("COMP_LINE", line)
    monkeypatch.setenv("COMP_POINT", str(len(line)))
    out = run_cli(monkeypatch, capsys, "-sc", "query=bash")
    assert out.split() == ["debug=fdr", "debug=limit", "debug=overfit"]


def test_bash_completion_install_script_names_the_console_script(monkeypatch, capsys):
    out = run_cli(monkeypatch, capsys, "-sc", "install=bash")
    # Bound to the console script's name, so `eval "$(trainfix-train -sc install=bash)"` completes it.
    assert out.rstrip().endswith("complete -o nospace -o default -F hydra_bash_completion trainfix-train")


def test_an_unknown_flag_prints_the_usage_once_and_exits_2(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["trainfix-train", "--bogus"])
    with pytest.raises(SystemExit) as done:
        cli()
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert err.count("usage: trainfix-train") == 1 and err.count("unrecognized arguments: --bogus") == 1
