"""Run identity: one folder per configuration, whatever way it was spelled.

A run's identity is a hash of its resolved, behaviour-relevant configuration: everything except where
files go (the best checkpoint's folder included), how progress is shown and logged, which devices run it, and
profile=quick's sizes at `quick` (`NOT_IDENTITY`; a quick run holds them in data.* and trainer.max_epochs), and where
checksum-checked data lies (`DATA_ROOT`). Its folder is `<label>-<hash8>`,
where the label is readable (an experiment's `run_name`, else `<strategy>-<model>-<data>-s<seed>`,
`default_label`) and the hash makes it unique. Labels hold no `=` or `,`,
so a folder is a plain path on any command line (`trainfix eval runs/train/baseline-lenet5-mnist-s0-1a2b3c4d`);
folders named before (`data.batch_size=128,...-<hash8>`, from the command-line overrides) are found by their hash:

- the same configuration spelled two ways (`data=mnist` given or left at its default, keys in another
  order) has the same hash, so the second invocation finds the first's folder and skips or resumes it;
- a sweep over any key (also one an experiment's `run_name` leaves out, like `optimizer.lr=0.1,0.05`)
  gets one folder per value;
- a run recorded before the configuration changed is still found, whatever its hash: a folder with the
  same label whose recorded configuration differs only in keys outside the identity, in keys removed
  from conf/ that it holds at the value that made them do nothing (`RETIRED`), or by keys it lacks (and
  that the command line did not set) is the same run (`upgrade_compatible`), unless the request holds a
  key listed in `PAST_VALUES` at another value than the one such records ran with. Any other identity
  key that differs makes another run. Folders named `<label>` alone (before identities) count too.

Hydra resolves `${trainfix_run_folder:<parent>}` (conf/hydra/default.yaml) into the run's folder name
when it sets up each job, so Hydra's own `.hydra/` and log files land in the run folder as well.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from trainfix.core.records import FINISHED, read_run

HASH_LENGTH = 8
LABEL_MAX = 120
# Keys (and key prefixes) that do not change what a run computes.
NOT_IDENTITY = (
    "hydra",
    "paths",
    "logger",
    "extras",
    "task_name",
    "run_name",
    "tags",
    "optimized_metric",
    "fail_fast_in_sweeps",
    "run_lock",
    "rerun",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "trainer.log_every_n_steps",
    "trainer.devices",
    "trainer.accelerator",
    "trainer.strategy",
    "trainer.num_nodes",
    # where the best checkpoint goes (`${paths.output_dir}/checkpoints`, callbacks=model_checkpoint): while the run's
    # folder is being named it reads "None/checkpoints", and once the run starts the folder's path, so a record
    # compared with a request (a skip, a resume) reached the same folder under another path (a link, a moved
    # sweep) and was refused as another configuration. No key that follows the output folder is in the identity
    # (a test scans conf/); runs hashed with it are found again under their label (`upgrade_compatible`).
    "callbacks.model_checkpoint.dirpath",
    # profile=quick's sizes: profile=quick copies them into data.* and trainer.max_epochs (identity keys, so a
    # quick run's identity follows them there); under profile=full nothing reads them.
    "quick",
)


# Keys added to the configuration after runs were recorded, with what a run recorded without the key
# did. A record lacking a listed key is read as holding this value (`recorded_value`): it is the same
# run as a request for that value only, and it is compared with other runs and with a protocol at that
# value. A record lacking an unlisted key is the same run as any request that does not set the key.
PAST_VALUES: dict[str, Any] = {
    "optimizer.initial_accumulator_value": 0.0,  # torch.optim.Adagrad's default before the key was in conf/
}

# Keys removed from conf/ after runs were recorded, with the value at which they changed nothing. A record holding
# one at that value is read as not holding it (`identity_items`): it is the same run as a request without the key,
# and its hash is the one such a request has; at any other value it stays a different run. `deterministic` (true,
# removed in issue 25) called torch.use_deterministic_algorithms before the Trainer was built, and building it
# called it again with `trainer.deterministic` (false in every recorded run), so it never reached training.
RETIRED: dict[str, Any] = {"deterministic": True}


# `data.root` says where a data set's files lie, not which files they are when the reader checks them against the
# official checksums (the data sets of `trainfix.data.readers.OFFICIAL_READERS`, which a test keeps equal to
# CHECKED_DATASETS; other files are refused unless data.accept_nonofficial=true): then it is outside the identity,
# so data moved to another folder or machine (the GPU machine's copy) keeps every run's folder. It stays in the
# identity of unchecked files: the JPEG copy of CIFAR-10, your own folders, or accept_nonofficial=true.
DATA_ROOT = "data.root"
CHECKED_DATASETS = frozenset({"mnist", "fashion_mnist", "cifar10", "cifar100", "svhn"})


def located_only(flat_config: dict[str, Any]) -> bool:
    """Whether `data.root` of a flattened config only locates checked official files (`DATA_ROOT`)."""
    checked = flat_config.get("data.dataset") in CHECKED_DATASETS
    return checked and not flat_config.get("data.accept_nonofficial", False)


def recorded_value(flat_config: dict[str, Any], key: str) -> tuple[bool, Any]:
    """(known, value) of dotted `key` in a flattened recorded config: its own value, else PAST_VALUES'."""
    if key in flat_config:
        return True, flat_config[key]
    if key in PAST_VALUES:
        return True, PAST_VALUES[key]
    return False, None


def is_identity_key(key: str) -> bool:
    """Whether a dotted config key is part of a run's identity."""
    return not any(key == k or key.startswith(k + ".") for k in NOT_IDENTITY)


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}}` -> `{"a.b": 1}`; an empty dict stays as one key holding `{}`."""
    if isinstance(tree, dict) and tree:
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: tree}


def identity_items(config: dict[str, Any]) -> dict[str, Any]:
    """The flattened identity keys of a resolved configuration (a plain dict), less RETIRED keys at their value and
    less `data.root` where it only locates checked files (`DATA_ROOT`)."""
    flat = flatten(config)
    located = located_only(flat)
    return {
        key: value
        for key, value in flat.items()
        if is_identity_key(key)
        and not (key in RETIRED and value == RETIRED[key])
        and not (key == DATA_ROOT and located)
    }


def config_hash(config: dict[str, Any]) -> str:
    """A short, stable hash of the identity keys of a resolved configuration."""
    text = json.dumps(identity_items(config), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_LENGTH]


def safe_label(text: str) -> str:
    """The label of folders named before readable names (`data.batch_size=128,...`, cut at LABEL_MAX characters):
    unsafe characters made `_`, 'default' when empty. Kept to find such folders again (`run_folder_name`)."""
    label = re.sub(r"[^A-Za-z0-9_.,=+-]", "_", str(text))[:LABEL_MAX]
    return label or "default"


def readable_label(text: str) -> str:
    """A label a shell and Hydra take as it is (`trainfix eval runs/train/<folder>`): letters, digits and `_ . + -`
    (anything else made `_`), at most LABEL_MAX characters, cut at a `-` or `_` rather than inside a value."""
    label = re.sub(r"[^A-Za-z0-9_.+-]+", "_", str(text)).strip("_.-")
    if len(label) > LABEL_MAX:
        cut = max(label.rfind("-", 0, LABEL_MAX), label.rfind("_", 0, LABEL_MAX))
        label = label[: cut if cut > 0 else LABEL_MAX].rstrip("_.-")
    return label or "default"


def default_label(strategy: Any, model: Any, data: Any, seed: Any) -> str:
    """The label of a run that names none (`run_name`): `<strategy>-<model>-<data>-s<seed>`, e.g.
    `baseline-lenet5-mnist-s0`; its folder adds the configuration's hash: `baseline-lenet5-mnist-s0-1a2b3c4d`."""
    return readable_label(f"{strategy}-{model}-{data}-s{seed}")


def resolved_identity_config(root: DictConfig) -> dict[str, Any]:
    """The resolved identity part of a composed config, without resolving the excluded top-level keys
    (they may refer to the run folder being named, e.g. `paths.output_dir`)."""
    excluded_top = {key for key in NOT_IDENTITY if "." not in key}
    out: dict[str, Any] = {}
    for key in root.keys():
        if key in excluded_top:
            continue
        node = root[key] if not OmegaConf.is_missing(root, key) else None
        out[str(key)] = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
    return out


def upgrade_compatible(saved: dict[str, Any], requested: dict[str, Any], overridden: Iterable[str] = ()) -> bool:
    """True when `saved` (a recorded config) differs from `requested` only in keys outside the identity,
    in RETIRED keys at their retired value, and by identity keys that the record lacks (added to the project
    since), that were not set on the command line, and that the request holds at their PAST_VALUES value
    where one is listed."""
    old, new = identity_items(saved), identity_items(requested)
    if any(key not in new or new[key] != value for key, value in old.items()):
        return False
    added = set(new) - set(old)
    if any(key in PAST_VALUES and new[key] != PAST_VALUES[key] for key in added):
        return False  # the record ran with the key's past value, not the requested one
    set_by_user = set(overridden)
    return not any(key == o or key.startswith(o + ".") for key in added for o in set_by_user)


def overridden_keys(task_overrides: Iterable[str], groups: Iterable[str] = ()) -> list[str]:
    """The config keys named by Hydra task overrides like `+a.b=1`, `~x`, `optimizer.lr=0.1`.

    A config-group choice among `groups` (`strategy=spld`, `hydra/launcher=joblib`) is left out: it sets
    the keys of that group to the option's values, so a key added to the group since a run was recorded
    takes its default there, as it would for any run that never named it (tested).
    """
    groups = {str(g).split("@", 1)[0] for g in groups}
    keys = []
    for item in task_overrides:
        raw = str(item).split("=", 1)[0]
        key = raw.lstrip("+~").split("@", 1)[0]
        if key in groups and not raw.startswith("~"):
            continue
        keys.append(key.replace("/", "."))
    return keys


def run_folder_name(
    parent: Path, label: str, config: dict[str, Any], overridden: Iterable[str] = (), legacy_labels: Iterable[str] = ()
) -> str:
    """The folder (under `parent`) of the run with this resolved `config`: an existing folder of the same
    identity when there is one (whatever its label: `<old label>-<hash>` folders keep being found), else
    `<label>-<hash>`. A record of the same label (or of one of `legacy_labels`, the labels folders were given
    before) made before a configuration key existed counts as the same run (`upgrade_compatible`)."""
    found = recorded_folder(parent, label, config, overridden, legacy_labels)
    return found or f"{readable_label(label)}-{config_hash(config)}"


def recorded_folder(
    parent: Path, label: str, config: dict[str, Any], overridden: Iterable[str] = (), legacy_labels: Iterable[str] = ()
) -> str | None:
    """The folder under `parent` that holds the run of `config` already (`run_folder_name`), else None."""
    digest, parent = config_hash(config), Path(parent)
    if not parent.is_dir():
        return None
    same_hash = sorted(p.name for p in parent.glob(f"*-{digest}") if p.is_dir())
    if same_hash:
        return same_hash[0]
    for name in dict.fromkeys([readable_label(label), *(safe_label(old) for old in legacy_labels)]):
        for candidate in [parent / name, *sorted(parent.glob(f"{glob_escape(name)}-*"))]:
            record = read_run(candidate) if candidate.is_dir() else None
            if record and upgrade_compatible(record.get("config", {}), config, overridden):
                return candidate.name
    return None


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]])", r"[\1]", text)


def _folder_resolver(parent: str, *, _root_: DictConfig) -> str:
    label = _root_.run_name
    overrides = OmegaConf.select(_root_, "hydra.overrides.task", default=[]) or []
    groups = OmegaConf.select(_root_, "hydra.runtime.choices", default={}) or {}
    legacy = [label, OmegaConf.select(_root_, "hydra.job.override_dirname", default="") or ""]
    if (before := _default_label(_root_, own_network_named=False)) != _default_label(_root_):
        legacy.append(before)  # a network of your own was labelled `<strategy>-custom-<data>-s<seed>` before
    return run_folder_name(
        Path(parent), label, resolved_identity_config(_root_), overridden_keys(overrides, groups.keys()), legacy
    )


def find_run(parent: str, label: str) -> str:
    """The folder under `parent` holding the finished run labelled `label` (another run's output that
    this one starts from, e.g. DeepEutaxy Table VII's Base); `<parent>/<label>` when there is none, so the
    caller's missing-file message names what was expected. Several finished runs of one label are ambiguous."""
    root = Path(parent)
    candidates = [root / label, *sorted(root.glob(f"{glob_escape(label)}-*"))] if root.is_dir() else []
    candidates = [p for p in candidates if p.is_dir()]
    finished = [p for p in candidates if (read_run(p) or {}).get("status") == FINISHED]
    if len(finished) > 1:
        raise ValueError(
            f"{len(finished)} finished runs labelled {label!r} under {root}: {[p.name for p in finished]}; "
            "name the one to use explicitly (e.g. init_from=<folder>/checkpoints/last.ckpt)"
        )
    if finished:
        return str(finished[0])
    return str(candidates[0] if len(candidates) == 1 else root / label)


def _label_resolver(text: str = "", *, _root_: DictConfig) -> str:
    """`${trainfix_run_name:}`: the default label (`default_label`); `${trainfix_run_name:<text>}`: `<text>` made
    readable (e.g. an Optuna search's `${hydra:job.override_dirname}`)."""
    return readable_label(text) if str(text) else _default_label(_root_)


def _default_label(root: DictConfig, own_network_named: bool = True) -> str:
    strategy = _choice(root, "strategy")
    if strategy is None:  # composed outside Hydra's runtime: the strategy class's name
        strategy = str(OmegaConf.select(root, "strategy._target_", default="") or "run").rsplit(".", 1)[-1].lower()
    model = _model_label(root, own_network_named)
    data = OmegaConf.select(root, "data.dataset", default=None) or _choice(root, "data") or "data"
    return default_label(strategy, model, data, OmegaConf.select(root, "seed", default=0))


def _model_label(root: DictConfig, own_network_named: bool = True) -> str:
    """The model part of a default label: `model.name`, and for a network of your own (`model=custom`) the name of
    its factory (`model.target` or `_target_`: `mypackage.nets.SmallCNN` -> `SmallCNN`); `own_network_named=False`:
    `custom`, as such runs were labelled before."""
    name = str(OmegaConf.select(root, "model.name", default=None) or _choice(root, "model") or "model")
    if name == "custom" and own_network_named:  # conf/model/custom.yaml's name
        target = OmegaConf.select(root, "model.target", default=None) or OmegaConf.select(
            root, "model._target_", default=None
        )
        if isinstance(target, str) and target.strip("."):
            return target.rstrip(".").rsplit(".", 1)[-1]
    return name


def _choice(root: DictConfig, group: str) -> str | None:
    """The option chosen for config group `group` (Hydra's runtime choices)."""
    value = hydra_value(root, f"runtime.choices.{group}")
    return None if value is None else str(value)


def hydra_value(root: DictConfig, key: str) -> Any:
    """`hydra.<key>` of the run's own config when it holds Hydra's part (composed with `return_hydra_config=True`:
    a notebook, a test, trainfix.cli, the run folder's naming), else of the running Hydra app; None outside one."""
    if OmegaConf.select(root, "hydra", default=None) is not None:
        return OmegaConf.select(root, f"hydra.{key}", default=None)
    try:
        from hydra.core.hydra_config import HydraConfig

        return OmegaConf.select(HydraConfig.get(), key, default=None)
    except ValueError:  # not in a Hydra app
        return None


# `${trainfix_run_folder:...}`, `${trainfix_run_name:...}`, `${trainfix_find_run:...}` in conf/: registered
# with every other resolver by trainfix.training.compose.register_resolvers.
RESOLVERS = {
    "trainfix_run_folder": _folder_resolver,
    "trainfix_run_name": _label_resolver,
    "trainfix_find_run": find_run,
}
