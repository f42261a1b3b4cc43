"""The command line in front of every entry point: plain paths, one-line config errors, `--help`, `trainfix`.

    trainfix train [key=value ...]        # = python -m trainfix.train / trainfix-train
    trainfix eval <run folder> [key=value ...]
    trainfix results summary --runs <multirun folder>
    trainfix apricot runs=<multirun folder> row=cnn1
    eval "$(trainfix --completion bash)"  # TAB completion of `trainfix <command> ...` (keys, groups, options)

What it adds to Hydra's own command line, before anything heavy is imported (torch and Lightning load
only once the configuration composed; `benchmarks/cli_latency.py` times it):

- a run folder is a plain path: given positionally (`trainfix eval runs/train/<run>`) or as `run_dir=<path>`,
  a path holding `=` or `,` (run folders named before readable names) is quoted for Hydra's parser;
- the command line is composed once up front, so an unknown key, option or group ends at once with one line on
  stderr, a "did you mean" from the composed configuration's keys, and exit status 2 (Hydra's own message spans
  several lines and its `+key=value` hint adds a key that the trainer would refuse only after the imports);
- `--help` lists each config group's options (read from conf/, so it never goes stale).
"""

from __future__ import annotations

import difflib
import re
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from trainfix.core.exit_status import EXIT_CONFIG  # light: sys and typing only

# Groups that experiments and profiles select, or that hold Hydra's and the paths' own settings (conf/README.md).
INTERNAL_GROUPS = ("hydra", "paths", "strategy_tuning")
INTERNAL_SUBGROUPS = ("strategy/tuning", "strategy/profile", "profile/sizes")
# Hydra's flags that take the next word as their value.
VALUE_FLAGS = {
    "-c",
    "--cfg",
    "-p",
    "--package",
    "-cp",
    "--config-path",
    "-cn",
    "--config-name",
    "-cd",
    "--config-dir",
    "-sc",
    "--shell-completion",
    "--experimental-rerun",
}
# Flags after which no run starts, so nothing is checked up front (Hydra answers them itself).
NO_CHECK_FLAGS = {"-h", "--help", "-hh", "--hydra-help", "-sc", "--shell-completion", "--version", "-i", "--info"}
PLAIN_VALUE = re.compile(r"[\w./:+@~%-]*")


def conf_dir() -> Path:
    from trainfix.training.compose import CONF_DIR

    return Path(CONF_DIR)


# ---------------------------------------------------------------------------------------------- paths as arguments


def hydra_quote(value: str) -> str:
    """`value` as Hydra's override parser reads it back unchanged: as is when it is plain, else single-quoted."""
    if value[:1] in ("'", '"') or PLAIN_VALUE.fullmatch(value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def normalize_argv(argv: Sequence[str], path_keys: Sequence[str] = (), positional: str | None = None) -> list[str]:
    """Hydra arguments from a user's: `<path>` -> `<positional>=<path>`, and the value of each `path_keys` key
    quoted when Hydra's grammar would misread it (`=`, `,`, spaces, brackets in a folder name)."""
    out: list[str] = []
    takes_value = False
    for arg in argv:
        if takes_value or arg.startswith("-"):
            out.append(arg)
            takes_value = arg in VALUE_FLAGS
            continue
        key, sep, value = arg.partition("=")
        # a folder name may hold "=" (older run names): a key with "/" is a path unless it is a config group
        # (hydra/launcher=joblib, or a group of conf/ such as profile/sizes)
        group = key.lstrip("+~").startswith("hydra/") or (sep and (conf_dir() / key.lstrip("+~")).is_dir())
        is_path = positional and (not sep or ("/" in key and not group) or Path(arg).exists()) and not _is_deletion(arg)
        if is_path:
            out.append(f"{positional}={hydra_quote(arg)}")
        elif sep and key in path_keys:
            out.append(f"{key}={hydra_quote(value)}")
        else:
            out.append(arg)
    return out


def _is_deletion(arg: str) -> bool:
    return arg.startswith("~") and not arg.startswith("~/") and "=" not in arg and "/" not in arg


# ------------------------------------------------------------------------------------------- checking up front


class CommandLineError(ValueError):
    """A command line that cannot compose; the message is one line."""


def flat_keys(node: Any, prefix: str = "") -> list[str]:
    """Every dotted key of a (plain) config tree, its inner nodes included."""
    keys: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            full = f"{prefix}{key}"
            keys.append(full)
            keys += flat_keys(value, full + ".")
    return keys


def suggest(key: str, keys: Sequence[str]) -> list[str]:
    """Keys close to `key`: its siblings with a close last part first, else close full keys."""
    parent, _, leaf = key.rpartition(".")
    siblings = {k.rpartition(".")[2]: k for k in keys if k.rpartition(".")[0] == parent}
    close = [siblings[name] for name in difflib.get_close_matches(leaf, list(siblings), n=3, cutoff=0.75)]
    if close:
        return close
    words = [name for name in siblings if leaf and name.split("_")[0] == leaf]  # `run=` for `run_dir=`
    if words:
        return [siblings[name] for name in words[:3]]
    if leaf:  # the same name elsewhere (`max_epochs=1` for `trainer.max_epochs=1`)
        same = [k for k in keys if k.rpartition(".")[2] == leaf]
        if same:
            return same[:3]
    return difflib.get_close_matches(key, list(keys), n=3, cutoff=0.75)


def _did_you_mean(names: Sequence[str]) -> str:
    return f"; did you mean {' or '.join(names)}?" if names else ""


def first_values(overrides: Sequence[str]) -> list[str]:
    """The overrides of one job of a sweep: each sweep (`a=1,2`, `range(...)`) at its first value; sweeps that
    cannot be listed (`interval(...)` for a sweeper) left out. Raises CommandLineError for unreadable overrides."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except OverrideParseException as error:
        lines = [line for line in str(error).splitlines() if line.strip() and not line.startswith("See ")]
        raise CommandLineError(
            f"{'; '.join(lines)} (quote a value that holds = , spaces or brackets: key='value')"
        ) from None
    out = []
    for override in parsed:
        if not override.is_sweep_override():
            out.append(str(override.input_line))
            continue
        try:
            values = list(override.sweep_string_iterator())
        except Exception:  # interval(...), glob(...): the sweeper expands them
            continue
        _check_group_values(override.key_or_group, values)
        out.append(f"{override.get_key_element()}={values[0]}")
    return out


def _check_group_values(group: str, values: Sequence[str]) -> None:
    """Every value of a sweep over a config group (`strategy=baseline,deepeutaxi`) is one of its options: the
    up-front composition sees the first value only."""
    if not (conf_dir() / group).is_dir():
        return
    options = group_options(group)
    for value in values:
        if value not in options and value != "null":
            close = difflib.get_close_matches(value, options, n=2, cutoff=0.6)
            raise CommandLineError(
                f"{group}={value}: no such option{_did_you_mean([f'{group}={c}' for c in close])} "
                f"(accepted: {', '.join(compact_options(options))})"
            )


def compose_checked(config_name: str, overrides: Sequence[str]) -> Any:
    """Compose `config_name` with `overrides` (sweeps at their first value) as Hydra will; CommandLineError with
    one line, and a "did you mean", when it cannot. Returns the composed config (Hydra's part included)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import MissingConfigException

    one_job = first_values(overrides)

    def _compose(items: Sequence[str]) -> Any:
        GlobalHydra.instance().clear()
        try:
            with initialize_config_dir(version_base="1.3", config_dir=str(conf_dir())):
                return compose(config_name, overrides=list(items), return_hydra_config=True)
        finally:
            GlobalHydra.instance().clear()

    try:
        cfg = _compose(one_job)
    except MissingConfigException as error:
        raise CommandLineError(_missing_option(error, one_job)) from None
    except Exception as error:
        text = str(error)
        match = re.search(r"Could not override '([^']+)'", text)
        if match:
            key = match.group(1)
            keys = _keys_without(_compose, one_job, key)
            hint = _did_you_mean(suggest(key, keys)) or f" (to add a new key: +{key}=...)"
            raise CommandLineError(f"{key}: no such key{hint}") from None
        match = re.search(r"Could not append to config. An item is already at '([^']+)'", text)
        if match:
            raise CommandLineError(
                f"+{match.group(1)}: the key exists already; set it without the +: {match.group(1)}=..."
            ) from None
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        raise CommandLineError("; ".join(lines[:3]) or type(error).__name__) from None
    _check_added_keys(cfg, one_job)
    return cfg


def _keys_without(compose: Callable[[Sequence[str]], Any], overrides: Sequence[str], key: str) -> list[str]:
    from omegaconf import OmegaConf

    rest = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") != key]
    try:
        cfg = compose(rest)
    except Exception:
        cfg = compose([])
    tree = OmegaConf.to_container(cfg, resolve=False)
    tree.pop("hydra", None)
    return flat_keys(tree)


def _missing_option(error: Any, overrides: Sequence[str]) -> str:
    missing = str(getattr(error, "missing_cfg_file", "") or "")
    group, _, option = missing.rpartition("/")
    options = [str(o) for o in (getattr(error, "options", None) or [])]
    if not options:  # a nested option (`experiment=leap/table_1/mnst`): Hydra lists none, the group's files do
        group, option = _override_of(missing, overrides) or (group, option)
        options = group_options(group) if group and (conf_dir() / group).is_dir() else []
    if not group or not options:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        return "; ".join(lines[:2])
    close = difflib.get_close_matches(option, options, n=3, cutoff=0.6)
    folder = f"; {option} is a folder of options" if any(o.startswith(option + "/") for o in options) else ""
    return (
        f"{group}={option}: no such option{folder}{_did_you_mean([f'{group}={c}' for c in close])} "
        f"(accepted: {', '.join(compact_options(options))})"
    )


def _override_of(missing: str, overrides: Sequence[str]) -> tuple[str, str] | None:
    """(group, option) of the override `group=option` (`+`, `~` and `@package` allowed) that asked for the config
    file `missing` ("experiment/leap/table_1/mnst"), or None."""
    for item in overrides:
        key, _, value = item.partition("=")
        key = key.lstrip("+~").split("@", 1)[0]
        if value and f"{key}/{value}" == missing:
            return key, value
    return None


def _check_added_keys(cfg: Any, overrides: Sequence[str]) -> None:
    """`+a.b=v` for a key one letter away from an existing `a.c` is a typo (Hydra's hint to a misspelt key)."""
    from omegaconf import OmegaConf

    tree = OmegaConf.to_container(cfg, resolve=False)
    tree.pop("hydra", None)
    keys = flat_keys(tree)
    for item in overrides:
        raw = item.split("=", 1)[0]
        if not raw.startswith("+") or raw.startswith("++"):
            continue
        key = raw[1:].split("@", 1)[0]
        parent, _, leaf = key.rpartition(".")
        siblings = [k.rpartition(".")[2] for k in keys if k.rpartition(".")[0] == parent and k != key]
        close = difflib.get_close_matches(leaf, siblings, n=1, cutoff=0.85)
        if close:
            name = f"{parent}.{close[0]}" if parent else close[0]
            raise CommandLineError(
                f"+{key}: a new key next to {name}; did you mean {name}={item.split('=', 1)[1]}? "
                f"(++{key}=... adds it anyway)"
            )


def run_checked(app: str, config_name: str, argv: Sequence[str]) -> None:
    """Compose the command line up front unless it asks for help or completion; on error print one line and exit 2."""
    if any(arg in NO_CHECK_FLAGS for arg in argv):
        return
    from hydra._internal.utils import get_args_parser

    try:
        args = get_args_parser().parse_args(list(argv))
    except SystemExit as error:  # argparse printed its usage and the error: exit with its status, not Hydra's copy
        sys.exit(error.code)
    if args.config_path or args.config_dir or args.experimental_rerun:
        return
    try:
        compose_checked(args.config_name or config_name, args.overrides)
    except CommandLineError as error:
        sys.stderr.write(f"{app}: config error: {error}\n")
        sys.exit(EXIT_CONFIG)


# ---------------------------------------------------------------------------------------------- --help


def group_options(group: str, root: Path | None = None) -> list[str]:
    """The options of config group `group`: its YAML files (sub-folders give `a/b`), internal sub-groups below it
    left out (`strategy` lists no `tuning/...`; `profile/sizes` itself lists its own options)."""
    base = (root or conf_dir()) / group
    inside = [sub for sub in INTERNAL_SUBGROUPS if sub.startswith(group + "/")]
    options = []
    for path in sorted(base.rglob("*.yaml")):
        name = path.relative_to(base).with_suffix("").as_posix()
        if any(f"{group}/{name}".startswith(sub + "/") for sub in inside):
            continue
        options.append(name)
    return options


def user_groups(root: Path | None = None) -> list[str]:
    root = root or conf_dir()
    return sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in INTERNAL_GROUPS)


def compact_options(options: Sequence[str]) -> list[str]:
    """`options` with the nested ones of one folder written once: `paper/table/{a,b}`."""
    nested: dict[str, list[str]] = {}
    for option in options:
        parent, _, name = option.rpartition("/")
        nested.setdefault(parent, []).append(name)
    parts = []
    for parent, names in nested.items():
        if not parent:
            parts += names
        else:
            parts.append(f"{parent}/{{{','.join(names)}}}" if len(names) > 1 else f"{parent}/{names[0]}")
    return parts


def options_line(group: str, indent: int = 20, width: int = 110) -> str:
    """`options: a b c` under a --help group line, wrapped; nested options shown as `paper/table/{a,b}`."""
    pad = " " * indent
    return textwrap.fill(
        "  ".join(compact_options(group_options(group))),
        width=width,
        initial_indent=pad + "options: ",
        subsequent_indent=pad + "  ",
        break_long_words=False,
        break_on_hyphens=False,
    )


HELP_FLAGS = ("-h", "--help")


def help_text(config_name: str, doc: str = "") -> str:
    """`--help` of an entry point, rendered here rather than by Hydra (whose help lists every group of conf/ first,
    ~25 s of config copies): train's from conf/hydra/help/trainfix.yaml with each group's options; eval's and
    apricot's from the command's docstring and its settings file (conf/<config_name>.yaml, comments included)."""
    import string

    from omegaconf import OmegaConf

    if config_name == "train":
        register_help_resolver()
        tree = OmegaConf.create({"hydra": {"help": OmegaConf.load(conf_dir() / "hydra" / "help" / "trainfix.yaml")}})
        template = str(tree.hydra.help.template)
        return string.Template(template).safe_substitute(FLAGS_HELP="", APP_CONFIG_GROUPS="", CONFIG="")
    settings, skipping = [], False
    for line in (conf_dir() / f"{config_name}.yaml").read_text().splitlines():
        if line.startswith("hydra:"):
            break
        if line[:1] not in ("", " ", "#"):
            skipping = line.startswith("defaults:")
        if not skipping:
            settings.append(line)
    return "\n".join([doc.strip(), "", f"Settings (key=value; conf/{config_name}.yaml):", *settings]).rstrip()


def answer_help(argv: Sequence[str], config_name: str, doc: str = "") -> None:
    """Print the help and exit 0 when `argv` asks for it (`-h`, `--help`)."""
    if any(arg in HELP_FLAGS for arg in argv):
        print(help_text(config_name, doc))
        sys.exit(0)


def register_help_resolver() -> None:
    """`${trainfix_options:<group>}` in conf/hydra/help/trainfix.yaml: the group's options, read from conf/."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("trainfix_options"):
        OmegaConf.register_new_resolver("trainfix_options", options_line)


# ---------------------------------------------------------------------------------------------- `trainfix`

COMMANDS = {
    "train": ("trainfix.train", "cli", "train a configuration or sweep (python -m trainfix.train)"),
    "eval": ("trainfix.eval", "cli", "evaluate or export a run folder (python -m trainfix.eval)"),
    "results": ("trainfix.results.__main__", "main", "tables, summaries, reports (python -m trainfix.results)"),
    "apricot": ("trainfix.apricot", "cli", "Apricot's adaptation pass over trained runs (python -m trainfix.apricot)"),
    "evidence": (
        "trainfix.evidence.__main__",
        "main",
        "committed evidence: PROVENANCE.md, the findings page, copying runs' records (python -m trainfix.evidence)",
    ),
}
# Each command's Hydra app name: its completion query runs as that app.
HYDRA_APPS = {"train": "trainfix-train", "eval": "trainfix-eval", "apricot": "trainfix-apricot"}

COMPLETION_BASH = r"""_trainfix_complete()
{
    local words=($COMP_LINE)
    local word=${words[$COMP_CWORD]}
    if (( COMP_CWORD == 1 )); then
        COMPREPLY=($(compgen -W "train eval results apricot evidence --help --completion" -- "$word"))
        return
    fi
    case "${words[1]}" in
        train|eval|apricot)
            local rest="${COMP_LINE#*[[:space:]]${words[1]}}"
            local line="trainfix-${words[1]}${rest}"
            local choices=$(COMP_LINE="$line" COMP_POINT=${#line} trainfix ${words[1]} -sc query=bash 2>/dev/null)
            COMPREPLY=($(compgen -o nospace -o default -W "$choices" -- "$word"));;
        results)
            COMPREPLY=($(compgen -o default -W "summary report RESULTS_COMMANDS --runs --out --metric" -- "$word"));;
        evidence)
            COMPREPLY=($(compgen -o default -W "provenance findings copy --build --write --glob --files" -- "$word"));;
    esac
}
COMP_WORDBREAKS=${COMP_WORDBREAKS//=}
complete -o nospace -o default -F _trainfix_complete trainfix
"""


def usage() -> str:
    lines = ["usage: trainfix COMMAND [arguments]   (trainfix COMMAND --help for each)", ""]
    lines += [f"  {name:<8} {help_}" for name, (_, _, help_) in COMMANDS.items()]
    lines += ["", 'TAB completion (bash): eval "$(trainfix --completion bash)"   (docs/cli.md)']
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """`trainfix COMMAND ...`: the entry points under one name."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        sys.exit(0 if args else EXIT_CONFIG)
    if args[0] == "--completion":
        if args[1:] not in ([], ["bash"]):
            sys.stderr.write("trainfix: --completion supports bash\n")
            sys.exit(EXIT_CONFIG)
        from trainfix.papers import PAPERS

        print(COMPLETION_BASH.replace("RESULTS_COMMANDS", " ".join(PAPERS)))
        return
    command = args[0]
    if command not in COMMANDS:
        close = difflib.get_close_matches(command, list(COMMANDS), n=1)
        sys.stderr.write(f"trainfix: no command {command!r}{_did_you_mean(close)} (accepted: {', '.join(COMMANDS)})\n")
        sys.exit(EXIT_CONFIG)
    module_name, function, _ = COMMANDS[command]
    from importlib import import_module

    app = HYDRA_APPS.get(command, f"trainfix {command}")
    sys.argv = [app, *args[1:]]
    status = getattr(import_module(module_name), function)()
    if isinstance(status, int):
        sys.exit(status)
