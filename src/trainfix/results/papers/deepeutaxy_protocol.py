"""Is a run's protocol the one of the DeepEutaxy experiment whose table it lands in?

A run counts in Table IV-VI row `lenet5` only when it trained as `experiment=deepeutaxy/table_iv/lenet5`
does under its profile: same epochs, data subsets, batch size, optimizer, scheduler, model, input
normalization and augmentation (PROTOCOL_KEYS). The expected values are composed from conf/ with
`trainfix.training.compose.compose_config` (experiment, the run's `profile_name` and `variant`), so they follow the
experiment files instead of being copied here. Without this check a 2-epoch ad-hoc run with
`experiment_row=lenet5` would be averaged into "Table IV, profile full".

Experiment of a run: `deepeutaxy/table_vii/<row>` for runs with a Table VII role other than base,
else `deepeutaxy/table_iv/<row>` (Table VII's Base is Table IV's 200-epoch SPL run). A key the run's
config does not hold is not compared (records written before the key existed, hand-made folders), unless
`trainfix.runs.identity.PAST_VALUES` says what such records ran with. Dict-valued keys (`optimizer`,
`data.augment`) are compared leaf by leaf.

`check_protocol` returns the collection with a column `off_protocol` (None, or the reasons) and,
unless `allow=True`, status "off protocol" for those runs, so every table cell says why such a seed
does not count ("98.5% (4/5; 1 off protocol)") and their profile reads e.g. "full (off protocol, not
counted)"; with `allow=True` they keep their status and their profile reads "full (off protocol)". So
the caption's Profile line labels them either way, and a caption line lists them with the reasons.
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from trainfix.results.cells import OFF_PROTOCOL
from trainfix.results.collect import RunCollection
from trainfix.results.papers.deepeutaxy_runs import label_runs
from trainfix.runs.identity import flatten, recorded_value

# The keys that define the protocol; dotted paths into the resolved config.
PROTOCOL_KEYS = (
    "model.name",
    "trainer.max_epochs",
    "data.train_subset",
    "data.test_subset",
    "data.batch_size",
    "data.normalize",
    "data.augment",
    "optimizer",
    "scheduler.scheduler",
)
PROFILES = ("full", "quick")
DEFAULT_PROFILE = "full"


def experiment_of(row: str, role: str | None) -> str:
    """The experiment config (under conf/experiment/) whose protocol a run of `row`/`role` must follow."""
    table = "table_vii" if role not in (None, "base") else "table_iv"
    return f"deepeutaxy/{table}/{row}"


@lru_cache(maxsize=64)
def expected_protocol(experiment: str, profile: str, variant: str) -> str:
    """The PROTOCOL_KEYS values of `experiment` under `profile` and `variant`, as JSON text (cached:
    one Hydra compose per experiment/profile/variant)."""
    from omegaconf import OmegaConf

    from trainfix.training.compose import CONF_DIR, compose_config  # Hydra and torch only when checking

    if not (CONF_DIR / "experiment" / f"{experiment}.yaml").exists():
        raise KeyError(f"no experiment {experiment} (conf/experiment/{experiment}.yaml)")
    cfg = compose_config([f"experiment={experiment}", f"profile={profile}", f"variant={variant}"], Path("unused"))
    values = {}
    for key in PROTOCOL_KEYS:
        value = OmegaConf.select(cfg, key)
        values[key] = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
    return json.dumps(values, sort_keys=True)


def protocol_differences(config: dict[str, Any], row: str, role: str | None) -> list[str]:
    """Why a run (its resolved config) is off its experiment's protocol; [] when it is on it."""
    profile = str(config.get("profile") or config.get("profile_name") or DEFAULT_PROFILE)
    variant = str(config.get("variant") or "paper")
    experiment = experiment_of(row, role)
    if profile not in PROFILES:
        return [f"profile {profile!r} is not one of {list(PROFILES)}"]
    try:
        expected = json.loads(expected_protocol(experiment, profile, variant))
    except KeyError as exc:
        return [str(exc.args[0])]
    reasons = []
    flat = flatten(config)
    for key, want in flatten(expected).items():
        # leaf by leaf: a key added to conf/ since the run was recorded is read at its PAST_VALUES value, or
        # not compared
        present, have = recorded_value(flat, key)
        if present and json.dumps(have, sort_keys=True) != json.dumps(want, sort_keys=True):
            reasons.append(f"{key}={json.dumps(have, sort_keys=True)} (experiment: {json.dumps(want, sort_keys=True)})")
    if reasons:
        reasons[0] = f"vs {experiment} profile={profile}: " + reasons[0]
    return reasons


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
