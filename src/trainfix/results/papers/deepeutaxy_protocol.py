"""Is a run's protocol the one of the DeepEutaxy experiment whose table it lands in?

A run counts in Table IV-VI row `lenet5` only when it trained as `experiment=deepeutaxy/table_iv/lenet5`
does under its profile (`trainfix.training.protocol`: the keys compared and how). Without this check a 2-epoch
ad-hoc run with `experiment_row=lenet5` would be averaged into "Table IV, profile full". Experiment of a run:
`deepeutaxy/table_vii/<row>` for runs with a Table VII role other than base, else `deepeutaxy/table_iv/<row>`
(Table VII's Base is Table IV's 200-epoch SPL run).

`check_protocol` returns the collection with a column `off_protocol` (None, or the reasons) and,
unless `allow=True`, status "off protocol" for those runs, so every table cell says why such a seed
does not count ("98.5% (4/5; 1 off protocol)") and their profile reads e.g. "full (off protocol, not
counted)"; with `allow=True` they keep their status and their profile reads "full (off protocol)". So
the caption's Profile line labels them either way, and a caption line lists them with the reasons.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd

from trainfix.results.cells import OFF_PROTOCOL
from trainfix.results.collect import RunCollection
from trainfix.results.papers.deepeutaxy_runs import label_runs
from trainfix.training.protocol import DEFAULT_PROFILE
from trainfix.training.protocol import protocol_differences as differences


def experiment_of(row: str, role: str | None) -> str:
    """The experiment config (under conf/experiment/) whose protocol a run of `row`/`role` must follow."""
    table = "table_vii" if role not in (None, "base") else "table_iv"
    return f"deepeutaxy/{table}/{row}"


def protocol_differences(config: dict[str, Any], row: str, role: str | None) -> list[str]:
    """Why a run (its resolved config) is off its experiment's protocol (`experiment_of`); [] when it is on it."""
    return differences(config, experiment_of(row, role))


def check_protocol(runs: RunCollection, allow: bool = False) -> RunCollection:
    """`runs` with column `off_protocol` (reasons text or None) for the runs a DeepEutaxy table would
    use (row and strategy known); excluded as status "off protocol" unless `allow` (then labelled)."""
    runs = label_runs(runs)
    frame = runs.runs.copy()
    reasons: list[str | None] = []
    for run in frame.itertuples(index=False):
        if not isinstance(run.row, str) or not isinstance(run.strategy, str):
            reasons.append(None)
            continue
        found = protocol_differences(runs.configs.get(run.run_id) or {}, run.row, run.table_vii_role)
        reasons.append("; ".join(found) or None)
    frame["off_protocol"] = reasons
    off = frame["off_protocol"].notna()
    profile = frame.loc[off, "profile"].fillna(DEFAULT_PROFILE).astype(str)
    if allow:
        frame.loc[off, "profile"] = profile + f" ({OFF_PROTOCOL})"
    else:
        frame.loc[off, "profile"] = profile + f" ({OFF_PROTOCOL}, not counted)"
        frame.loc[off & (frame["status"] != "unreadable"), "status"] = OFF_PROTOCOL
    epochs = runs.epochs.copy()
    if len(epochs):
        epochs["status"] = epochs["run_id"].map(dict(zip(frame["run_id"], frame["status"])))
    return replace(runs, runs=frame, epochs=epochs)


def protocol_caption(used: pd.DataFrame, limit: int = 5) -> str | None:
    """A caption line naming the off-protocol runs among `used` and why; None when there are none."""
    if "off_protocol" not in used.columns or not used["off_protocol"].notna().any():
        return None
    off = used[used["off_protocol"].notna()]
    counted = bool((off["status"] != OFF_PROTOCOL).any())
    head = f"Off protocol: {len(off)} run folder(s) differ from their experiment's protocol and are " + (
        "COUNTED, as --allow-off-protocol asked"
        if counted
        else "not counted (--allow-off-protocol counts them, labelled)"
    )
    listed = "; ".join(f"{r.run_id}: {r.off_protocol}" for r in off.head(limit).itertuples(index=False))
    return f"{head}: {listed}" + (f"; and {len(off) - limit} more" if len(off) > limit else "") + "."
