"""What makes two runs one configuration: the config keys compared, and their values as text.

A configuration is a run's resolved config (run.json `config`, flattened by `runs.identity.flatten`)
without the keys that are not part of a run's identity (`runs.identity.NOT_IDENTITY`: paths, loggers,
display, devices, names) and without IGNORED_KEYS / IGNORED_PREFIXES (averaged over, or carried
elsewhere). A table cell is a mean over runs of one configuration (`require_same_configs`); `summary`
makes one row per configuration.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from trainfix.runs.identity import flatten, is_identity_key, recorded_value

# Beyond the non-identity keys: the seed (averaged over), where a run started from, the data root, and
# `quick.`, which holds profile=quick's sizes that data.* already carries resolved.
IGNORED_KEYS = frozenset({"seed", "init_from", "data.root"})
IGNORED_PREFIXES = ("quick.", "callbacks.")
ABSENT = "(absent)"


def flat_config(config: dict[str, Any]) -> dict[str, Any]:
    """The dotted keys of a resolved config ({} for a run with no readable config)."""
    return flatten(config) if config else {}


def ignored(key: str) -> bool:
    """Whether a dotted key does not tell two configurations apart."""
    return not is_identity_key(key) or key in IGNORED_KEYS or key.startswith(IGNORED_PREFIXES)


def value_text(value: Any) -> str:
    """A config value as shown in a table cell and compared between runs (lists and dicts as JSON)."""
    if value is ABSENT or value is None:
        return "-" if value is None else ABSENT
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def require_same_configs(
    configs: dict[str, dict[str, Any]], cell: str, where: Any, allowed: Iterable[str] = ()
) -> None:
    """A cell averages seeds of one configuration: raise ValueError when two of `configs` ({run name:
    resolved config}) differ in a compared key, naming the keys, both runs and their values, and what to
    do. `where` names the runs' folder; `allowed`: dotted keys the members of this cell differ in by
    design (e.g. an rDLM's window).

    Keys are compared where both runs recorded them: a key one run lacks was added by a later version
    of the code, and the run that lacks it ran that key's behaviour before it became an option (unless
    `runs.identity.PAST_VALUES` says what it ran with)."""
    allowed = frozenset(allowed)
    flat = {name: flat_config(config) for name, config in configs.items()}
    names = list(flat)
    for i, first in enumerate(names):
        for other in names[i + 1 :]:
            a, b = flat[first], flat[other]
            values = {}
            for k in [*a, *(k for k in b if k not in a)]:
                (known_a, value_a), (known_b, value_b) = recorded_value(a, k), recorded_value(b, k)
                if (
                    known_a
                    and known_b
                    and k not in allowed
                    and not ignored(k)
                    and value_text(value_a) != value_text(value_b)
                ):
                    values[k] = (value_a, value_b)
            if values:
                shown = "; ".join(
                    f"{k}: {value_text(va)} ({first}) vs {value_text(vb)} ({other})"
                    for k, (va, vb) in list(values.items())[:5]
                )
                raise ValueError(
                    f"{cell}: finished runs under {where} differ in {len(values)} key(s) besides the seed ({shown}); "
                    "a cell is the mean over seeds of one configuration: "
                    "give --runs a folder holding one configuration per cell (e.g. one folder per profile, "
                    "update budget or strategy option)"
                )


def require_one_configuration(runs: Any, run_ids: Iterable[str], cell: str) -> None:
    """`require_same_configs` on the runs `run_ids` of a RunCollection."""
    require_same_configs({run_id: runs.configs.get(run_id) or {} for run_id in run_ids}, cell, runs.root)
