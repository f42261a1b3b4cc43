"""What experiment loggers are told about a run: its profile as it really ran, and W&B's mode.

Light on purpose (no Lightning, no wandb at import): the resolver below is registered wherever conf/ is
composed (`trainfix.training.compose.register_resolvers`).

Profile (`${trainfix_run_profile:}`, the `profile=` tag of W&B and MLflow):

- `debug` when a `debug=` option shortened the run;
- `custom` when the command line (or a sweep) set a size of the run: `trainer.max_epochs`, `max_steps`,
  `max_time`, `limit_*_batches`, `data.train_subset`, `test_subset`, `batch_size`, or `quick.*` / the
  `profile/sizes` group; also `profile=quick` whose sizes differ from `quick.*` however they were set;
- else the chosen profile: `quick` (its sizes applied) or `full` (what the experiment pins).

W&B mode (`wandb_mode`), first rule that applies:

1. `logger.wandb.mode=online|offline|disabled`: that mode;
2. `WANDB_MODE` set in the environment: passed to wandb as it is (e.g. `WANDB_MODE=offline`; wandb reads
   its environment once per process);
3. W&B credentials found, read locally without any network call: `WANDB_API_KEY` (or
   `WANDB_IDENTITY_TOKEN_FILE`), an entry for the W&B host in the netrc file that `wandb login` writes
   (`~/.netrc`, or `$NETRC`), or `api_key` in a wandb settings file: wandb's default, online (a
   workspace's `wandb offline` still applies);
4. otherwise `offline` (`wandb sync <run folder>/wandb/offline-run-*` uploads later).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from trainfix.runs.identity import hydra_value

# Keys that size a run: set on the command line, the run is no longer the profile's.
SIZE_KEYS = (
    "trainer.max_epochs",
    "trainer.max_steps",
    "trainer.max_time",
    "trainer.limit_train_batches",
    "trainer.limit_val_batches",
    "data.train_subset",
    "data.test_subset",
    "data.batch_size",
)
# profile=quick applies `quick.<name>` to each of these (conf/profile/quick.yaml).
QUICK_SIZES = {
    "trainer.max_epochs": "max_epochs",
    "data.train_subset": "train_subset",
    "data.test_subset": "test_subset",
    "data.batch_size": "batch_size",
}
WANDB_MODES = ("online", "offline", "disabled")


def override_keys(task_overrides: Iterable[str]) -> list[str]:
    """The keys (or group paths) that Hydra task overrides set: `+a.b=1` -> `a.b`,
    `profile/sizes@quick=x` -> `profile/sizes`."""
    return [str(item).split("=", 1)[0].lstrip("+~").split("@", 1)[0] for item in task_overrides]


def run_profile(
    profile_name: str,
    values: Mapping[str, Any],
    quick: Mapping[str, Any],
    overridden: Iterable[str] = (),
    debug: str | None = None,
) -> str:
    """What the run is: `debug`, `custom`, or `profile_name` (`quick` / `full`); see the module docstring.

    Args:
        profile_name: the chosen profile (`profile_name` in the config).
        values: the run's resolved value of each of QUICK_SIZES' keys (dotted), as far as known.
        quick: the `quick` sizes of the config (`max_epochs`, `train_subset`, ...).
        overridden: the keys the command line set (`override_keys`).
        debug: the `debug` group's choice, if any.
    """
    if debug:
        return "debug"
    for key in overridden:
        if key in SIZE_KEYS or key == "quick" or key.startswith(("quick.", "profile/sizes", "profile.sizes")):
            return "custom"
    if profile_name == "quick":
        for key, name in QUICK_SIZES.items():
            if name in quick and key in values and values[key] != quick[name]:
                return "custom"
    return str(profile_name)


def _run_profile_resolver(*, _root_: DictConfig) -> str:
    """The run's profile from its own config: Hydra's part of it (overrides, the `debug` choice) where the config
    holds it, as composed in a notebook or test, else the running app's (`hydra_value`)."""
    overrides = list(hydra_value(_root_, "overrides.task") or [])
    debug = hydra_value(_root_, "runtime.choices.debug")
    values = {key: OmegaConf.select(_root_, key) for key in QUICK_SIZES}
    quick = OmegaConf.select(_root_, "quick", default=None)
    quick = OmegaConf.to_container(quick, resolve=True) if OmegaConf.is_config(quick) else {}
    profile_name = OmegaConf.select(_root_, "profile_name", default="full")
    return run_profile(profile_name, values, quick, override_keys(overrides), debug)


RESOLVERS = {"trainfix_run_profile": _run_profile_resolver}


# ------------------------------------------------------------------------------------------ W&B
def wandb_credentials() -> str | None:
    """Where W&B credentials are, read locally as wandb itself would (no network call), or None."""
    for variable in ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE"):
        if os.environ.get(variable):
            return variable
    try:
        from wandb.sdk import wandb_setup
        from wandb.sdk.lib.wbauth.host_url import HostUrl
        from wandb.sdk.lib.wbauth.wbnetrc import read_netrc_auth_with_source

        settings = wandb_setup.singleton().settings
        found = read_netrc_auth_with_source(host=HostUrl(settings.base_url))
        if found is not None:
            return f"{found.source}, the netrc file `wandb login` writes"
        if settings.api_key:
            return "api_key in a wandb settings file"
    except Exception:  # a wandb version that keeps credentials elsewhere, or a malformed key: not logged in
        return None
    return None


def wandb_mode(requested: str | None) -> tuple[str | None, str]:
    """(the `mode` to give `wandb.init`, or None for wandb's own choice; why), by the rules of the module docstring."""
    if requested is not None:
        if requested not in WANDB_MODES:
            raise ValueError(
                f"logger.wandb.mode={requested!r}: accepted {', '.join(WANDB_MODES)}, or null "
                "(offline unless WANDB_MODE is set or W&B credentials are found)"
            )
        return requested, f"{requested} (logger.wandb.mode)"
    if os.environ.get("WANDB_MODE"):
        # Passed on explicitly: wandb reads its environment once per process (wandb.setup), so a WANDB_MODE set
        # after an earlier run of the same process (a notebook, a test session) would otherwise be ignored.
        return os.environ["WANDB_MODE"], f"{os.environ['WANDB_MODE']} (WANDB_MODE)"
    if (source := wandb_credentials()) is not None:
        return None, f"online (W&B credentials in {source}; WANDB_MODE=offline keeps it local)"
    return "offline", "offline (no W&B credentials found: `wandb login`, or logger.wandb.mode=online, to upload)"
