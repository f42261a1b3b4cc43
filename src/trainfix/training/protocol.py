"""Is a run's protocol the one of its experiment? The run's resolved config against the experiment's, composed
from conf/ (`compose.compose_config`: the experiment, the run's `profile_name` and `variant`) on PROTOCOL_KEYS: the
same epochs, data subsets, batch size, optimizer, scheduler, model, input normalization and augmentation. So the
expected values follow the experiment files instead of being copied. A key the run's config does not hold is not
compared (records written before the key existed, hand-made folders), unless `trainfix.runs.identity.PAST_VALUES`
says what such records ran with. Dict-valued keys (`optimizer`, `data.augment`) are compared leaf by leaf. The
DeepEutaxy tables use it (`trainfix.papers.deepeutaxy_runs`) so that an ad-hoc run is not averaged into
a paper's row.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

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


def protocol_differences(config: dict[str, Any], experiment: str) -> list[str]:
    """Why a run (its resolved config) is off `experiment`'s protocol (e.g. "deepeutaxy/table_iv/lenet5") under the
    run's own profile and variant; [] when it is on it."""
    profile = str(config.get("profile") or config.get("profile_name") or DEFAULT_PROFILE)
    variant = str(config.get("variant") or "paper")
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
