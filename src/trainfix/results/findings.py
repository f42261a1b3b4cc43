"""The findings table: each paper's headline claims against what the committed evidence measured.

    python -m trainfix.results findings                  # print the table (Markdown)
    python -m trainfix.results findings --write docs/findings.md   # refresh the table between its markers

Every number comes from a committed evidence folder's table files (themselves built from its runs/ by
the command in results/manifest.yaml), and the published numbers from results/paper/*.yaml; the claims
themselves (text, measure, setup, caveat, command) are declared in `paper/findings.yaml`. A
method-minus-baseline difference carries its 95 % Welch interval (`statistics.welch_difference`) over
independent seeds, and the verdict follows the interval: "reproduced" only when it excludes zero on
the side the paper claims.
"""

from __future__ import annotations

import argparse
import io
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
from scipy import stats

from trainfix.results.paper import load_paper
from trainfix.results.statistics import welch_difference

REPO = Path(__file__).resolve().parents[3]
BEGIN, END = (
    "<!-- findings:begin (python -m trainfix.results findings --write docs/findings.md) -->",
    "<!-- findings:end -->",
)


@dataclass(frozen=True)
class Arm:
    mean: float
    std: float
    n: int

    def text(self) -> str:
        return f"{self.mean:.2f} ± {self.std:.2f} (n={self.n})" if self.n > 1 else f"{self.mean:.2f} (n={self.n})"


def arm(values: list[float]) -> Arm:
    series = pd.Series(values, dtype=float)
    return Arm(float(series.mean()), float(series.std(ddof=1)) if len(series) > 1 else math.nan, len(series))


def read_csv(folder: str, name: str) -> pd.DataFrame:
    return pd.read_csv(REPO / folder / name, comment="#")


def percent(text: str) -> float:
    return float(str(text).split("%")[0])


# ------------------------------------------------------------------------------ DeepEutaxy
def de_arms(folder: str, measure: str) -> dict[str, Arm]:
    """Per strategy, Table IV's `measure` ("train acc" or "test acc"): mean, std and n over the counted seeds
    (seeds at chance level left out, as in the table), from the table's values file."""
    values = read_csv(folder, "table_iv_values.csv").set_index("column")
    return {
        s: Arm(
            float(values.at[f"{s} {measure}", "ours"]),
            float(values.at[f"{s} {measure}", "ours_std"]),
            int(values.at[f"{s} {measure}", "seeds_used"]),
        )
        for s in ("BL", "SPL", "DE")
    }


def de_converged(folder: str) -> tuple[str, str]:
    """How many live seeds of BL and DE meet Eq. 12 on the full-set gradient, and what that says."""
    seeds = read_csv(folder, "seeds_iv_vi.csv")
    live = seeds[~seeds["note"].astype(str).str.contains("excluded")]
    counts = {s: int((live.loc[live["Strategy"] == s, "Eq. 12 epoch (full)"] != "never").sum()) for s in ("BL", "DE")}
    sizes = {s: int((live["Strategy"] == s).sum()) for s in ("BL", "DE")}
    text = (
        f"Eq. 12 met on the full-set gradient: BL {counts['BL']}/{sizes['BL']}, "
        f"DE {counts['DE']}/{sizes['DE']} live seeds"
    )
    if counts["DE"] == 0:
        return text, "not reproduced (DE never converges)"
    return text, "see the per-seed table (epochs to converge)"


# ------------------------------------------------------------------------------ rows
def difference_row(a: Arm, b: Arm, names: tuple[str, str], sign: int, paper_effect: float) -> tuple[str, str]:
    d = welch_difference(a.mean, a.std, a.n, b.mean, b.std, b.n)
    return f"{names[0]} {a.text()}, {names[1]} {b.text()}; diff {d.text()}", d.verdict(sign, paper_effect)


def de_accuracy(folder: str, column: str, key: str) -> tuple[str, str]:
    """DE - BL of Table IV's `column` ("train acc"), against the paper's `key` ("train_acc") of LeNet-5."""
    paper = published()["iv"][key]
    arms = de_arms(folder, column)
    return difference_row(arms["DE"], arms["BL"], ("DE", "BL"), +1, paper["DE"] - paper["BL"])


def trimming(folder: str) -> tuple[str, str]:
    paper = published()["trim"]
    values = read_csv(folder, "table_1_values.csv").set_index("arm")
    on, off = (Arm(values.at[k, "ours_mean"], values.at[k, "ours_std"], int(values.at[k, "n"])) for k in ("on", "off"))
    return difference_row(on, off, ("on", "off"), -1, paper["on"] - paper["off"])


def leap(folder: str, method: str, baseline: str) -> tuple[str, str]:
    paper = published()["leap"]
    values = read_csv(folder, "table_1_values.csv").set_index("method")
    a, b = (
        Arm(values.at[m, "ours_mean"], values.at[m, "ours_std"], int(values.at[m, "ours_runs"]))
        for m in (method, baseline)
    )
    return difference_row(a, b, (method, baseline), +1, paper[method]["mnist"][0] - paper[baseline]["mnist"][0])


def apricot(folder: str) -> tuple[str, str]:
    table = read_csv(folder, "table_v.csv").set_index("Model (source)")
    toward = float(table.at["lenet5_mnist (ours, toward)", "Avg. gain"])
    control = float(table.at["lenet5_mnist (ours, control: no adjustment)", "Avg. gain"])
    beyond = toward - control
    verdict = "not testable (one input model)" + (
        f": {beyond:+.2f} points beyond the control" if beyond > 0 else ": no gain beyond the no-adjustment control"
    )
    return (
        f"held-out test gain: S1 toward {toward:+.2f}, the no-adjustment control {control:+.2f} points "
        f"(one input model; 1 image = 0.02 points)",
        verdict,
    )


def monitor(folder: str) -> tuple[str, str]:
    table = read_csv(folder, "table_detection.csv").iloc[0]
    flagged, runs = (int(x) for x in str(table["flagged (ours)"]).split("=")[0].split("/"))
    ci = stats.binomtest(flagged, runs).proportion_ci(0.95)  # Clopper-Pearson
    thesis = [float(x) / 100 for x in re.findall(r"(\d+(?:\.\d+)?)%", str(table["flagged (thesis)"]))]
    inside = all(ci.low <= rate <= ci.high for rate in thesis)
    verdict = (
        "reproduced (the thesis' rates lie in our interval)" if inside else "not reproduced (outside our interval)"
    )
    return (
        f"oscillating loss flagged in {flagged}/{runs} runs, 95 % CI {100 * ci.low:.0f}-{100 * ci.high:.0f} % "
        f"(thesis {table['flagged (thesis)']}); pair index {table['pair index range (ours)']} (thesis "
        f"{table['pair index range (thesis)']})",
        verdict,
    )


MEASURES: dict[str, Callable[..., tuple[str, str]]] = {  # a claim's `measure` in paper/findings.yaml
    "de_accuracy": de_accuracy,
    "de_converged": de_converged,
    "trimming": trimming,
    "leap": leap,
    "apricot": apricot,
    "monitor": monitor,
}


def published() -> dict[str, Any]:
    """The published numbers the claims name: {iv}, {leap}, {trim} (see paper/findings.yaml)."""
    return {
        "iv": load_paper("deepeutaxy_table_iv")["rows"]["lenet5"],
        "leap": load_paper("leap_table_1")["test_acc"],
        "trim": load_paper("trimming_table_1")["test_error"]["cifar10"]["resnet34"],
    }


@dataclass(frozen=True)
class Claim:
    """One row of the findings table, as `paper/findings.yaml` declares it (texts filled in)."""

    paper: str
    claim: str
    measure: Callable[[], tuple[str, str]]  # -> (ours, verdict)
    setup: str
    caveat: str
    command: str


def claims() -> list[Claim]:
    """The declared claims, their texts filled in with the published numbers."""
    declared, numbers = load_paper("findings"), published()
    return [
        Claim(
            claim["paper"],
            claim["claim"].format(**numbers),
            partial(MEASURES[claim["measure"][0]], *claim["measure"][1:]),
            claim["setup"].format(de_setup=declared["de_setup"]),
            claim["caveat"],
            claim["command"],
        )
        for claim in declared["claims"]
    ]


def table() -> str:
    rows = []
    for claim in claims():
        ours, verdict = claim.measure()
        rows.append(
            {
                "paper": claim.paper,
                "claim (paper's numbers)": claim.claim,
                "ours (95 % CI of the difference)": ours,
                "verdict": verdict,
                "setup": claim.setup,
                "why our setup could still differ": claim.caveat,
                "command": f"`{claim.command}`",
            }
        )
    buffer = io.StringIO()
    pd.DataFrame(rows).to_markdown(buffer, index=False)
    return buffer.getvalue() + "\n"


def write_between_markers(path: Path, text: str) -> None:
    page = path.read_text()
    if BEGIN not in page or END not in page:
        raise ValueError(f"{path} has no findings markers; expected the lines {BEGIN!r} and {END!r}")
    head, rest = page.split(BEGIN, 1)
    path.write_text(head + BEGIN + "\n" + text + rest[rest.index(END) :])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--write", type=Path, help="replace the table between the findings markers of this Markdown file"
    )


def build(args: argparse.Namespace) -> list[Path]:
    text = table()
    print(text)
    if args.write:
        write_between_markers(args.write, text)
        return [args.write]
    return []
