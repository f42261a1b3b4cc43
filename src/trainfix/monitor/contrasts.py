"""The oscillating-loss study's two contrasts between its cases, on the study's rows (`trainfix.monitor.study`), each
beside the thesis' own difference of the same cases on one device (monitor_thesis.yaml):

- depth (`depth_table`): the shallower network's flagged share minus the deeper one's at one budget, two
  independent groups of runs: Newcombe's hybrid score interval (`core.statistics.proportion_difference`);
- budget (`budget_table`): one depth's flagged share at a longer budget minus at a shorter one, over the seeds
  judged at both (with `--replay` a longer run's first epochs are the shorter budget's run: the same runs judged
  twice): Newcombe's paired interval (`core.statistics.paired_proportion_difference`). The thesis ran separate
  runs per budget; on the same runs the pairing removes the between-run spread, so the interval is narrower than
  two independent groups would give.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import pandas as pd

from trainfix.core.statistics import Difference, paired_proportion_difference, proportion_difference
from trainfix.monitor.study import NoRuns, flags


def thesis_differences(paper: dict[str, Any], first: dict[str, int], second: dict[str, int]) -> dict[str, list[int]]:
    """{device: the thesis' flagged percentage of each case matching `first` minus each matching `second`, on that
    device} (`first`/`second`: what a case must have, e.g. {"epochs": 150, "hidden_layers": 20}); devices without
    both are left out."""
    found: dict[str, list[int]] = {}
    for a in paper["cases"]:
        for b in paper["cases"]:
            if a["device"] == b["device"] and first.items() <= a.items() and second.items() <= b.items():
                found.setdefault(a["device"], []).append(a["flagged_pct"] - b["flagged_pct"])
    return found


def thesis_text(differences: dict[str, list[int]]) -> str:
    """'+25 (GPU)', '-22, -26 (GPU)', or '-' when the thesis has no such pair."""
    return ", ".join(f"{', '.join(f'{d:+d}' for d in v)} ({k})" for k, v in differences.items()) or "-"


def depth_difference(study: pd.DataFrame, budget: int, shallow: int, deep: int, learned_only: bool = False) -> dict:
    """The flagged share of the `shallow` network's runs of `budget` epochs minus the `deep` one's, with Newcombe's
    95 % interval (`core.statistics.proportion_difference`): {difference, flagged_a, runs_a, flagged_b, runs_b};
    `learned_only`: over the runs that left chance level. NoRuns naming the case when one has no run."""
    counts = []
    for layers in (shallow, deep):
        case = study[(study["hidden_layers"] == layers) & (study["budget"] == budget)]
        case = case[flags(case["learned"], "learned")] if learned_only else case
        if case.empty:
            which = "runs that learned" if learned_only else "runs"
            raise NoRuns(f"no {which} of {layers} hidden layers, {budget} epochs in the study")
        counts += [int(flags(case["flagged"], "flagged").sum()), len(case)]
    return dict(zip(("flagged_a", "runs_a", "flagged_b", "runs_b"), counts), difference=proportion_difference(*counts))


def thesis_depth_difference(paper: dict[str, Any], budget: int, shallow: int, deep: int) -> dict[str, list[int]]:
    """{device: the thesis' flagged percentage of the `shallow` network minus the `deep` one's} over the devices
    where it ran both for `budget` epochs."""
    return thesis_differences(
        paper, {"epochs": budget, "hidden_layers": shallow}, {"epochs": budget, "hidden_layers": deep}
    )


def depth_table(study: pd.DataFrame, paper: dict[str, Any]) -> pd.DataFrame:
    """The thesis' shallower network (20 hidden layers) against each deeper one of the same budget (its
    "anotherModel", 34): flagged share of the shallow minus the deep, with Newcombe's 95 % interval, over every run
    (as the thesis counts) and over the runs that learned, beside the thesis' difference on one device."""
    rows = []
    for budget, group in study.groupby("budget") if len(study) else []:
        depths = sorted(int(d) for d in group["hidden_layers"].dropna().unique())
        shallow = depths[0] if depths else None
        for deep in depths[1:]:
            thesis = thesis_depth_difference(paper, int(budget), shallow, deep)
            for label, learned_only in (("every run (as the thesis counts)", False), ("runs that learned", True)):
                try:
                    found = depth_difference(group, int(budget), shallow, deep, learned_only)
                except NoRuns:  # e.g. no deep network learned: that row has nothing to compare
                    continue
                d: Difference = found["difference"]
                rows.append(
                    {
                        "epochs": int(budget),
                        "hidden layers": f"{shallow} vs {deep}",
                        "runs counted": label,
                        f"flagged, {shallow} layers": f"{found['flagged_a']}/{found['runs_a']}",
                        f"flagged, {deep} layers": f"{found['flagged_b']}/{found['runs_b']}",
                        "difference, points (95% CI, Newcombe)": d.scaled(100).text(0),
                        "thesis difference, points": thesis_text(thesis),
                    }
                )
    return pd.DataFrame(rows)


def budget_difference(study: pd.DataFrame, layers: int, shorter: int, longer: int) -> dict:
    """The flagged share of the `layers`-layer network's runs at `longer` epochs minus at `shorter`, over the seeds
    judged at both, with Newcombe's paired 95 % interval: {difference, runs, flagged_longer, flagged_shorter,
    longer_only, shorter_only}. NoRuns naming the case when no seed has both budgets."""
    case = study[study["hidden_layers"] == layers]
    at = {b: case[case["budget"] == b].set_index("seed") for b in (shorter, longer)}
    seeds = at[longer].index.intersection(at[shorter].index).sort_values()
    if seeds.empty:
        raise NoRuns(f"no seed of {layers} hidden layers judged at both {shorter} and {longer} epochs in the study")
    long_, short = (flags(at[b].loc[seeds, "flagged"], "flagged").to_numpy() for b in (longer, shorter))
    both, longer_only = int((long_ & short).sum()), int((long_ & ~short).sum())
    shorter_only, neither = int((~long_ & short).sum()), int((~long_ & ~short).sum())
    return {
        "runs": len(seeds),
        "flagged_longer": int(long_.sum()),
        "flagged_shorter": int(short.sum()),
        "longer_only": longer_only,
        "shorter_only": shorter_only,
        "difference": paired_proportion_difference(both, longer_only, shorter_only, neither),
    }


def thesis_budget_difference(paper: dict[str, Any], layers: int, shorter: int, longer: int) -> dict[str, list[int]]:
    """{device: the thesis' flagged percentage of each `longer`-epoch case minus each `shorter`-epoch one} of the
    `layers`-layer network, over the devices where it ran both budgets."""
    return thesis_differences(
        paper, {"epochs": longer, "hidden_layers": layers}, {"epochs": shorter, "hidden_layers": layers}
    )


def budget_table(study: pd.DataFrame, paper: dict[str, Any]) -> pd.DataFrame:
    """Per depth, every pair of budgets with seeds judged at both (a longer run replayed to the shorter budget, or
    a seed's own runs of both): the flagged share at the longer budget minus at the shorter, paired on the seeds,
    beside the thesis' differences of its cases of those budgets on one device."""
    rows = []
    for layers, group in study.groupby("hidden_layers") if len(study) else []:
        for shorter, longer in combinations(sorted(int(b) for b in group["budget"].unique()), 2):
            try:
                found = budget_difference(group, int(layers), shorter, longer)
            except NoRuns:  # e.g. the 34-layer case has 50-epoch runs only
                continue
            rows.append(
                {
                    "hidden layers": int(layers),
                    "epochs": f"{longer} vs {shorter}",
                    "runs (judged at both)": found["runs"],
                    "flagged at the longer budget": found["flagged_longer"],
                    "flagged at the shorter budget": found["flagged_shorter"],
                    "flagged at the longer only / the shorter only": (
                        f"{found['longer_only']} / {found['shorter_only']}"
                    ),
                    "difference, points (95% CI, Newcombe paired)": found["difference"].scaled(100).text(0),
                    "thesis difference, points": thesis_text(
                        thesis_budget_difference(paper, int(layers), shorter, longer)
                    ),
                }
            )
    return pd.DataFrame(rows)
