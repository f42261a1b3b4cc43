"""The findings table (docs/findings.md, and README's shorter view): each paper's headline claims against the evidence.

The claims (text, measure, setup, caveat, command) are declared in `findings.yaml`; our numbers come from the
committed evidence folders' table files, the paper's from papers/published/*.yaml. A method-minus-baseline difference
carries its 95 % Welch interval over seeds, and "reproduced" means the interval excludes zero on the claimed side.
The paper's own effect is a second test only where it measured the same thing: on a row the paper does not have
(trimming's LeNet-5/Fashion-MNIST) or a measure it does not report (Apricot's control), the interval is read against
zero alone, the verdict says why, and the paper's effects are context in the "ours" text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from trainfix.core.records import atomic_write_text
from trainfix.core.statistics import paired_difference, welch_difference
from trainfix.monitor.contrasts import (
    budget_difference,
    depth_difference,
    thesis_budget_difference,
    thesis_depth_difference,
    thesis_text,
)
from trainfix.monitor.study import NoRuns, flagged_interval, flags, thesis_rates, value_range
from trainfix.papers.published import load_paper
from trainfix.results.cells import spread_text

REPO = Path(__file__).resolve().parents[3]
FINDINGS = Path(__file__).with_name("findings.yaml")
BEGIN = "<!-- findings:begin (python -m trainfix.evidence findings --write docs/findings.md) -->"
README_BEGIN = "<!-- findings:begin (python -m trainfix.evidence findings --readme README.md) -->"
END = "<!-- findings:end -->"
COLUMNS = (
    "paper|claim (paper's numbers)|ours (95 % CI of the difference)|verdict|setup|"
    "why our setup could still differ|command"
).split("|")
README_COLUMNS = (*COLUMNS[:4], "evidence")


@dataclass(frozen=True)
class Arm:
    mean: float
    std: float
    n: int

    def text(self, sign: str = "") -> str:
        """'98.26 ± 0.13 (n=3)'; sign "+": a gain's '+0.04 ± 0.05 (n=5)'."""
        return spread_text(f"{self.mean:{sign}.2f}", f"{self.std:.2f}" if self.n > 1 else None, [f"n={self.n}"])


def read_csv(folder: str, name: str) -> pd.DataFrame:
    return pd.read_csv(REPO / folder / name, comment="#")


def arms(folder: str, name: str, index: str, keys: Iterable[str], n: str, mean: str = "ours_mean") -> list[Arm]:
    """One Arm per row `key` of the values file `name` (indexed by column `index`): mean, `ours_std`, n."""
    values = read_csv(folder, name).set_index(index)
    return [Arm(float(values.at[k, mean]), float(values.at[k, "ours_std"]), int(values.at[k, n])) for k in keys]


def difference_row(
    a: Arm, b: Arm, names: tuple[str, str], sign: int, paper_effect: float | None, zero_only: str | None = None
) -> tuple[str, str]:
    d = welch_difference(a.mean, a.std, a.n, b.mean, b.std, b.n)
    return f"{names[0]} {a.text()}, {names[1]} {b.text()}; diff {d.text()}", d.verdict(sign, paper_effect, zero_only)


# ------------------------------------------------------------------------------ measures: -> (ours, verdict)
def de_accuracy(folder: str, column: str, key: str) -> tuple[str, str]:
    """DE - BL of Table IV's `column` ("train acc") over the counted seeds (seeds at chance level left out, as in the
    table), against the paper's `key` ("train_acc") of LeNet-5."""
    paper = published()["iv"][key]
    de, bl = arms(folder, "table_iv_values.csv", "column", (f"DE {column}", f"BL {column}"), "seeds_used", mean="ours")
    return difference_row(de, bl, ("DE", "BL"), +1, paper["DE"] - paper["BL"])


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


def trimming(folder: str) -> tuple[str, str]:
    """On minus off test error. Not a paper row: read against zero alone; the paper's Table 1 effects (on - off over
    its six network/data rows) are quoted as context."""
    effects = [
        row["on"] - row["off"]
        for models in load_paper("trimming_table_1")["test_error"].values()
        for row in models.values()
    ]
    on, off = arms(folder, "table_1_values.csv", "arm", ("on", "off"), "n")
    ours, verdict = difference_row(on, off, ("on", "off"), -1, None, "not a paper row: read against zero alone")
    return (
        f"{ours} (the paper's on - off over its {len(effects)} rows: {min(effects):+.2f} to {max(effects):+.2f})",
        verdict,
    )


def leap(folder: str, method: str, baseline: str) -> tuple[str, str]:
    paper = published()["leap"]
    a, b = arms(folder, "table_1_values.csv", "method", (method, baseline), "ours_runs")
    return difference_row(a, b, (method, baseline), +1, paper[method]["mnist"][0] - paper[baseline]["mnist"][0])


def apricot(folder: str) -> tuple[str, str]:
    """Held-out test gain over the input model of S1 toward and of the no-adjustment control (same batches, selection
    and retraining), per input model (model seed); S1 minus the control, paired by input model, is the adjustment's
    own effect: the claim's test (the paper has no control, so no effect of its own to compare)."""
    passes = read_csv(folder, "table_v_passes.csv")
    passes = passes[passes["complete"].astype(bool)]
    chosen = passes[~passes["control"] & (passes["strategy"] == 1) & (passes["direction"] == "toward")]
    s1 = dict(zip(chosen["model_seed"], 100 * chosen["gain"]))
    control = dict(zip(passes.loc[passes["control"], "model_seed"], 100 * passes.loc[passes["control"], "gain"]))
    seeds = sorted(set(s1) & set(control))
    if not seeds:
        raise ValueError(f"{folder}/table_v_passes.csv: no input model has both a complete S1 toward and control pass")
    a, b = ([arm[s] for s in seeds] for arm in (s1, control))
    d = paired_difference(a, b)
    arm = [Arm(float(pd.Series(x).mean()), float(pd.Series(x).std(ddof=1)), len(x)) for x in (a, b)]
    return (
        f"held-out test gain: S1 toward {arm[0].text('+')}, the no-adjustment control {arm[1].text('+')} points; "
        f"S1 - control, paired by input model: {d.text()}",
        d.verdict(+1, zero_only="not a paper row, and the paper has no control: read against zero alone"),
    )


def _study_case(folder: str, hidden_layers: int, epochs: int) -> pd.DataFrame:
    """The per-run rows of one oscillating-loss study case (per_run.csv: one row per run and budget)."""
    study = read_csv(folder, "per_run.csv")
    case = study[(study["hidden_layers"] == int(hidden_layers)) & (study["budget"] == int(epochs))]
    if case.empty:
        raise ValueError(f"{folder}/per_run.csv: no run of {hidden_layers} hidden layers, {epochs} epochs")
    return case


def _thesis_cases(hidden_layers: int, epochs: int) -> list[dict[str, Any]]:
    """The thesis' cases (monitor_thesis.yaml) of this network and budget; ValueError when it ran none."""
    cases = load_paper("monitor_thesis")["cases"]
    found = [c for c in cases if c["hidden_layers"] == int(hidden_layers) and c["epochs"] == int(epochs)]
    if not found:
        ran = sorted({(c["hidden_layers"], c["epochs"]) for c in cases})
        raise ValueError(f"the thesis has no case of {hidden_layers} hidden layers, {epochs} epochs; it ran {ran}")
    return found


def monitor(folder: str, hidden_layers: int = 20, epochs: int = 50, rival_epochs: int | None = None) -> tuple[str, str]:
    """The flagged share of one study case (its rows of per_run.csv): its exact 95 % interval against each of the
    thesis' rates for that case (monitor_thesis.yaml). `rival_epochs`: the thesis' case of the same network that the
    claim sets itself apart from (its 150-epoch rates are a claim because they are lower than at 50): an interval
    that also holds a rate of that case cannot tell the two apart, and is called inconclusive; so is one that holds
    some of the thesis' rates for the case and not others."""
    case, thesis = _study_case(folder, hidden_layers, epochs), _thesis_cases(hidden_layers, epochs)
    flagged, runs = int(flags(case["flagged"], "flagged").sum()), len(case)
    low, high = flagged_interval(flagged, runs)  # as table_detection's CI column, unrounded
    held = [c for c in thesis if low <= c["flagged_pct"] / 100 <= high]
    inside = len(held) == len(thesis)
    rival = _thesis_cases(hidden_layers, rival_epochs) if rival_epochs else []
    rivals = [c for c in rival if low <= c["flagged_pct"] / 100 <= high]
    if inside and rivals:
        verdict = (
            f"inconclusive (our interval holds the thesis' rates, and its {thesis_rates(rivals)} at {rival_epochs} "
            "epochs too)"
        )
    elif held and not inside:  # the thesis' own cases of this budget disagree across our interval's edge
        missed = [c for c in thesis if c not in held]
        verdict = f"inconclusive (our interval holds the thesis' {thesis_rates(held)}, not its {thesis_rates(missed)})"
    else:
        verdict = (
            "reproduced (the thesis' rates lie in our interval)" if inside else "not reproduced (outside our interval)"
        )
    pairs = [int(p) for p in case["pair_index"].dropna()]  # only flagged runs have one
    thesis_pairs = ", ".join(value_range(c["pair_index"]) for c in thesis)
    return (
        f"oscillating loss flagged in {flagged}/{runs} runs, 95 % CI {100 * low:.0f}-{100 * high:.0f} % "
        f"(thesis {thesis_rates(thesis)}); pair index {value_range(pairs)} (thesis {thesis_pairs})",
        verdict,
    )


def _thesis_effect(differences: dict[str, list[int]], what: str) -> float:
    """The thesis' one device's difference (the mean when it ran two cases of a budget): what the verdict tests."""
    if len(differences) != 1:
        raise ValueError(
            f"monitor_thesis.yaml: expected one device with both cases of {what}, found {sorted(differences)}"
        )
    values = next(iter(differences.values()))
    return sum(values) / len(values)


def monitor_depth(folder: str, shallow: int = 20, deep: int = 34, epochs: int = 50) -> tuple[str, str]:
    """The shallow network's flagged share minus the deep one's over every run (Newcombe's 95 % interval) against
    the thesis' difference on one device; the same over the runs that learned, as context."""
    study = read_csv(folder, "per_run.csv")
    thesis = thesis_depth_difference(load_paper("monitor_thesis"), int(epochs), int(shallow), int(deep))
    effect = _thesis_effect(thesis, f"{shallow} and {deep} layers, {epochs} epochs")
    every = depth_difference(study, int(epochs), int(shallow), int(deep))

    def points(found: dict[str, Any]) -> str:
        shares = f"{found['flagged_a']}/{found['runs_a']} - {found['flagged_b']}/{found['runs_b']}"
        return f"{shares} = {found['difference'].scaled(100).text(0)} points"

    try:
        learned = points(depth_difference(study, int(epochs), int(shallow), int(deep), learned_only=True))
    except NoRuns as error:  # context only: a case with no run that learned says so
        learned = str(error)
    return (
        f"{shallow} - {deep} layers, flagged share over every run: {points(every)} (thesis {thesis_text(thesis)}); "
        f"over the runs that learned: {learned}",
        every["difference"].scaled(100).verdict(+1 if effect > 0 else -1, paper_effect=effect, digits=0),
    )


def monitor_budget(folder: str, layers: int = 20, shorter: int = 50, longer: int = 150) -> tuple[str, str]:
    """One network's flagged share at the longer budget minus at the shorter, over the same seeds judged at both
    (Newcombe's paired 95 % interval), against the thesis' differences of its cases of the two budgets on one device
    (the verdict tests their mean); the study's other budget pairs, as context, in the table it comes from."""
    study = read_csv(folder, "per_run.csv")
    thesis = thesis_budget_difference(load_paper("monitor_thesis"), int(layers), int(shorter), int(longer))
    effect = _thesis_effect(thesis, f"{layers} layers, {shorter} and {longer} epochs")
    found = budget_difference(study, int(layers), int(shorter), int(longer))
    return (
        f"{layers} layers, flagged at {longer} - at {shorter} epochs, the same {found['runs']} seeds: "
        f"{found['flagged_longer']} - {found['flagged_shorter']} runs = "
        f"{found['difference'].scaled(100).text(0)} points ({found['longer_only']} flagged at {longer} only, "
        f"{found['shorter_only']} at {shorter} only; thesis {thesis_text(thesis)}, mean {effect:+.0f})",
        found["difference"].scaled(100).verdict(+1 if effect > 0 else -1, paper_effect=effect, digits=0),
    )


# a claim's `measure` in findings.yaml: one of these functions' names, then its arguments
MEASURES = {
    f.__name__: f for f in (de_accuracy, de_converged, trimming, leap, apricot, monitor, monitor_depth, monitor_budget)
}


def published() -> dict[str, Any]:
    """The published numbers the claims name: {iv}, {leap}, {trim} (see findings.yaml)."""
    return {
        "iv": load_paper("deepeutaxy_table_iv")["rows"]["lenet5"],
        "leap": load_paper("leap_table_1")["test_acc"],
        "trim": load_paper("trimming_table_1")["test_error"]["cifar10"]["resnet34"],
    }


@dataclass(frozen=True)
class Claim:
    """One row of the findings table, as findings.yaml declares it (texts filled in)."""

    paper: str
    claim: str
    measure: Callable[[], tuple[str, str]]  # -> (ours, verdict)
    setup: str
    caveat: str
    command: str
    evidence: str  # Markdown link(s) to the evidence folder(s), README's last column


def claims() -> list[Claim]:
    """The declared claims, their texts filled in with the published numbers."""
    declared, numbers = yaml.safe_load(FINDINGS.read_text()), published()
    return [
        Claim(
            claim["paper"],
            claim["claim"].format(**numbers),
            partial(MEASURES[claim["measure"][0]], *claim["measure"][1:]),
            claim["setup"].format(de_setup=declared["de_setup"]),
            claim["caveat"],
            claim["command"],
            claim["evidence"],
        )
        for claim in declared["claims"]
    ]


Measured = list[tuple[Claim, str, str]]  # each claim with its (ours, verdict)


def measured() -> Measured:
    """Every declared claim measured once on the committed evidence: (claim, ours, verdict)."""
    return [(c, *c.measure()) for c in claims()]


def table(rows: Measured | None = None) -> str:
    """The findings table in Markdown, one row per claim (`rows`: from `measured()`, measured here when None)."""
    rows = measured() if rows is None else rows
    cells = [(c.paper, c.claim, ours, verdict, c.setup, c.caveat, f"`{c.command}`") for c, ours, verdict in rows]
    return pd.DataFrame(cells, columns=COLUMNS).to_markdown(index=False) + "\n"


def readme_table(rows: Measured | None = None) -> str:
    """README's view of the same rows: paper, claim, ours, verdict and the evidence links, unpadded."""
    rows = measured() if rows is None else rows
    cells = [README_COLUMNS, ("---",) * len(README_COLUMNS)]
    cells += [(c.paper, c.claim, ours, verdict, c.evidence) for c, ours, verdict in rows]
    return "".join(f"| {' | '.join(row)} |\n" for row in cells)


def write_between_markers(path: Path, text: str, begin: str = BEGIN) -> None:
    """Replace what lies between the `begin` and END lines of the Markdown file `path` with `text`."""
    page = path.read_text()
    if begin not in page or END not in page.split(begin, 1)[-1]:
        raise ValueError(f"{path} has no findings markers; expected the lines {begin!r} and {END!r}")
    head, rest = page.split(begin, 1)
    atomic_write_text(path, head + begin + "\n" + text + rest[rest.index(END) :])  # a reader never sees half
