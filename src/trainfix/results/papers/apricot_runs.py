"""Apricot's runs for its tables, read once: the run folders through the results core's one reader, the
adaptation passes through `procedures.apricot.records`, and the check that every cell pools one configuration."""

from __future__ import annotations

from pathlib import Path

from trainfix.procedures.apricot.records import ApricotRuns, read_passes, trained_runs
from trainfix.results.collect import collect_runs
from trainfix.results.configs import require_same_configs


def collect(root: Path) -> ApricotRuns:
    """Read the run folders (input and reduced: `collect_runs`) and the adapt/ folders below `root`."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"--runs {root}: no such folder; expected the multirun folder of experiment=apricot/... runs"
        )
    collection = collect_runs(root)
    runs = trained_runs(collection)
    adapt, facts = read_passes(root)
    if runs.empty and adapt.empty:
        raise FileNotFoundError(
            f"--runs {root}: no Apricot runs (run.json with config.apricot_role) and no adapt/*/result.json"
        )
    data = ApricotRuns(root, runs, adapt, facts, collection)
    check_one_configuration(data)
    return data


# Keys that differ between the members of one cell by design: the rDLM's window, the pass's model seed
# (which repetition it adapts) and batch order seed, and the runs it read.
WINDOW_KEYS = ("data.train_window.start",)
PASS_KEYS = ("model_seed", "seed", "input_run", "reduced_runs")


def check_one_configuration(data: ApricotRuns) -> None:
    """Each number of Tables II-V is a mean over runs of one configuration: raise ValueError when the
    finished input runs of a row, its finished rDLMs (window start aside) or the adaptation passes of
    one (row, sign convention, strategy) cell differ in a setting besides the seed (naming it)."""
    finished = data.runs[data.runs["status"] == "finished"] if len(data.runs) else data.runs
    for (row, role), group in finished.groupby(["row", "role"], sort=True) if len(finished) else []:
        require_same_configs(
            dict(zip(group["run"], group["config"])), f"Apricot tables, {row} {role} runs", data.root, WINDOW_KEYS
        )
    if len(data.adapt) and "identity" in data.adapt:
        for (row, direction, strategy), group in data.adapt.groupby(["row", "direction", "strategy"], sort=True):
            require_same_configs(
                dict(zip(group["folder"], group["identity"])),
                f"Apricot Table V, {row} {direction} S{strategy} passes",
                data.root / "adapt",
                PASS_KEYS,
            )
