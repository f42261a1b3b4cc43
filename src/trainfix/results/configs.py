"""What makes two runs one configuration: the config keys compared, and their values as text.

A configuration is a run's resolved config (run.json `config`, flattened) without the keys that are not
part of a run's identity (`runs.identity.NOT_IDENTITY`) and without IGNORED_KEYS.
Two records agree when they hold the same value for every key both recorded: a key one lacks was added
by a later version of the code, whose default the older run ran (`runs.identity.PAST_VALUES` says where
it did not). A table cell averages the seeds of one configuration (`require_same_configs`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from trainfix.runs.identity import flatten, is_identity_key, recorded_value

# Beyond the non-identity keys: the seed (averaged over), where a run started from, and the data root (outside a
# run's identity only for checksum-checked data, `runs.identity.DATA_ROOT`; a cell never compares it).
IGNORED_KEYS = frozenset({"seed", "init_from", "data.root"})
ABSENT = "(absent)"


def flat_config(config: dict[str, Any]) -> dict[str, Any]:
    """The dotted keys of a resolved config ({} for a run with no readable config)."""
    return flatten(config) if config else {}


def ignored(key: str) -> bool:
    """Whether a dotted key does not tell two configurations apart."""
    return not is_identity_key(key) or key in IGNORED_KEYS


def value_text(value: Any) -> str:
    """A config value as shown in a table cell and compared between runs (lists and dicts as JSON)."""
    if value is ABSENT or value is None:
        return "-" if value is None else ABSENT
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def identity(config: dict[str, Any]) -> dict[str, str]:
    """The compared keys of a resolved config, flattened, values as text."""
    return {k: value_text(v) for k, v in flat_config(config).items() if not ignored(k)}


def known_value(config: dict[str, str], key: str) -> str | None:
    """The text of `key` in an identity, its PAST_VALUES value where the record lacks it; None when unknown."""
    known, value = recorded_value(config, key)
    return (value if key in config else value_text(value)) if known else None


def differences(a: dict[str, str], b: dict[str, str], allowed: Iterable[str] = ()) -> dict[str, tuple[str, str]]:
    """key -> (value in a, value in b) for every key of two identities that both know and that differ."""
    values = {k: (known_value(a, k), known_value(b, k)) for k in [*a, *(k for k in b if k not in a)]}
    return {k: (va, vb) for k, (va, vb) in values.items() if None not in (va, vb) and va != vb and k not in allowed}


def require_same_configs(
    configs: dict[str, dict[str, Any]], cell: str, where: Any, allowed: Iterable[str] = ()
) -> None:
    """Raise ValueError, naming the keys, both runs and their values, when two of `configs` ({run name:
    resolved config}) are not one configuration. `where`: the runs' folder; `allowed`: keys the members of
    this cell differ in by design (e.g. an rDLM's window)."""
    identities, allowed = {name: identity(config) for name, config in configs.items()}, frozenset(allowed)
    names = list(identities)
    for i, first in enumerate(names):
        for other in names[i + 1 :]:
            values = differences(identities[first], identities[other], allowed)
            if values:
                shown = "; ".join(f"{k}: {va} ({first}) vs {vb} ({other})" for k, (va, vb) in list(values.items())[:5])
                raise ValueError(
                    f"{cell}: finished runs under {where} differ in {len(values)} key(s) besides the seed ({shown}); "
                    "a cell is the mean over seeds of one configuration: "
                    "give --runs a folder holding one configuration per cell (e.g. one folder per profile, "
                    "update budget or strategy option)"
                )


def require_each_once(frame: Any, keys: list[str], name: str, cell: str, where: Any) -> None:
    """Raise ValueError, naming the folders (column `name`), when `frame` (a cell's finished runs) holds several for
    one value of `keys` (a seed): a mean counts each seed once, and which of two records of one configuration to
    count (an earlier run's records copied beside a rerun's under another folder name) is the user's choice."""
    for key, same in frame[frame.duplicated(keys, keep=False)].groupby(keys, dropna=False, sort=True):
        which = ", ".join(f"{k} {v}" for k, v in zip(keys, key if isinstance(key, tuple) else (key,)))
        raise ValueError(
            f"{cell}: {len(same)} folders under {where} for {which}: {sorted(same[name])}; a cell "
            "counts each once: move all but one out of --runs (e.g. the records of an earlier run of the same "
            "configuration)"
        )


def require_one_configuration(runs: Any, run_ids: Iterable[str], cell: str) -> None:
    """`require_same_configs` and `require_each_once` (per seed) on the runs `run_ids` of a RunCollection."""
    run_ids = list(run_ids)
    require_same_configs({run_id: runs.configs.get(run_id) or {} for run_id in run_ids}, cell, runs.root)
    chosen = runs.runs[runs.runs["run_id"].isin(run_ids)]
    require_each_once(chosen, ["seed"], "run_id", cell, runs.root)
