"""README's "Config groups" table lists exactly the groups and options under conf/.

A group is a folder of conf/ with option files (`<option>.yaml`) directly in it; `experiment`'s options are its
`<paper>/<table or study>` folders. `hydra`, `paths` and `strategy_tuning` are internal (README says so) and are
not listed. A new option file, group or experiment folder that README misses fails here, and so does a README
option that conf/ no longer has.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
CONF = REPO / "conf"
INTERNAL = {"hydra", "paths", "strategy_tuning"}
HEADING = "## Config groups"
CODE = re.compile(r"`([^`]+)`")


def readme_groups(text: str) -> dict[str, set[str]]:
    """{group: options} from the first table under the "Config groups" heading: the backticked names of its
    first two columns (the third, notes, is free text)."""
    assert HEADING in text, f"README has no {HEADING!r} section"
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    groups: dict[str, set[str]] = {}
    for row in rows:
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        (group,) = CODE.findall(cells[0])
        assert group not in groups, f"group {group!r} appears twice in README's table"
        groups[group] = set(CODE.findall(cells[1]))
    return groups


def conf_groups(conf: Path) -> dict[str, set[str]]:
    groups = {}
    for folder in sorted(p for p in conf.iterdir() if p.is_dir() and p.name not in INTERNAL):
        if folder.name == "experiment":
            options = {str(p.parent.relative_to(folder)) for p in folder.rglob("*.yaml")}
        else:
            options = {p.stem for p in folder.glob("*.yaml")}
        if options:
            groups[folder.name] = options
    return groups


def differences(readme: dict[str, set[str]], conf: dict[str, set[str]]) -> list[str]:
    out = [f"group {g!r}: in conf/, not in README" for g in sorted(conf.keys() - readme.keys())]
    out += [f"group {g!r}: in README, not in conf/" for g in sorted(readme.keys() - conf.keys())]
    for g in sorted(conf.keys() & readme.keys()):
        out += [f"{g}={o}: in conf/, not in README" for o in sorted(conf[g] - readme[g])]
        out += [f"{g}={o}: in README, not in conf/" for o in sorted(readme[g] - conf[g])]
    return out


def test_readme_config_groups_table_equals_conf() -> None:
    readme, conf = readme_groups(README.read_text(encoding="utf-8")), conf_groups(CONF)
    assert len(conf) >= 14, f"expected at least 14 option groups under conf/, found {sorted(conf)}"
    assert {"trimming", "leap", "spld", "random_subset"} <= conf["strategy"]
    diff = differences(readme, conf)
    assert not diff, "README's config-groups table and conf/ differ:\n" + "\n".join(diff)


def test_the_comparison_catches_a_missing_option_and_a_missing_group(tmp_path: Path) -> None:
    for path in (
        "scheduler/none.yaml",
        "scheduler/reduce_on_plateau.yaml",
        "monitor/none.yaml",
        "experiment/leap/table_1/mnist.yaml",
        "hydra/default.yaml",
    ):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("{}\n")
    table = f"{HEADING}\n\n| group | options | notes |\n|---|---|---|\n| `scheduler` | `none` | x `cyclic` |\n"
    table += "| `experiment` | `leap/table_1` | |\n\n## Next\n| `monitor` | `none` | |\n"
    readme, conf = readme_groups(table), conf_groups(tmp_path)
    assert readme == {"scheduler": {"none"}, "experiment": {"leap/table_1"}}
    assert conf == {"scheduler": {"none", "reduce_on_plateau"}, "experiment": {"leap/table_1"}, "monitor": {"none"}}
    assert differences(readme, conf) == [
        "group 'monitor': in conf/, not in README",
        "scheduler=reduce_on_plateau: in conf/, not in README",
    ]
