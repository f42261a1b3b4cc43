"""Welch's interval against a direct computation (scipy's own Welch t-test) and a hand case; Newcombe's interval of a
difference of shares against his published examples and a hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from trainfix.core.statistics import (
    paired_difference,
    paired_proportion_difference,
    proportion_difference,
    welch_difference,
)


def test_interval_matches_scipy_welch_test() -> None:
    a, b = np.array([98.86, 98.91, 98.80]), np.array([98.04, 98.10])
    d = welch_difference(a.mean(), a.std(ddof=1), 3, b.mean(), b.std(ddof=1), 2)
    result = stats.ttest_ind(a, b, equal_var=False)
    ci = result.confidence_interval(0.95)
    assert d.diff == pytest.approx(a.mean() - b.mean())
    assert (d.low, d.high) == pytest.approx((ci.low, ci.high))
    assert d.verdict(+1) == "reproduced"
    assert d.verdict(-1) == "not reproduced (the opposite holds)"


def test_hand_case_equal_spread() -> None:
    # two arms of 2: means 1 and 0, std 1 each: se = 1, df = 2, t(0.975, 2) = 4.302653
    d = welch_difference(1.0, 1.0, 2, 0.0, 1.0, 2)
    assert d.df == pytest.approx(2.0)
    assert (d.low, d.high) == pytest.approx((1 - 4.302653, 1 + 4.302653), rel=1e-6)
    assert d.verdict(+1) == "not reproduced (no difference shown)"
    assert d.verdict(+1, paper_effect=0.5).startswith("inconclusive")
    assert d.verdict(+1, paper_effect=6.0) == (
        "not reproduced (no difference shown; the paper's +6.00 is outside the interval)"
    )
    assert d.verdict(+1, paper_effect=6.0, digits=0).endswith("the paper's +6 is outside the interval)")
    assert d.verdict(+1, zero_only="not a paper row") == "not reproduced (no difference shown; not a paper row)"
    assert d.verdict(+1, paper_effect=0.5, zero_only="unused").startswith("inconclusive")


def test_single_seed_has_no_interval() -> None:
    d = welch_difference(0.25, math.nan, 1, 0.25, math.nan, 1)
    assert math.isnan(d.low) and d.text() == "+0.00 (no interval: n < 2)"
    assert d.verdict(+1) == "not testable (n < 2)"


def test_paired_interval_matches_scipy_paired_t_test() -> None:
    a, b = np.array([0.04, 0.10, -0.02, 0.06]), np.array([-0.06, 0.02, -0.04, 0.00])
    d = paired_difference(list(a), list(b))
    ci = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert d.diff == pytest.approx((a - b).mean()) and d.df == pytest.approx(3.0)
    assert (d.low, d.high) == pytest.approx((ci.low, ci.high))
    assert math.isnan(paired_difference([0.04], [-0.06]).low)  # one pair: no interval
    with pytest.raises(ValueError, match="one value per seed"):
        paired_difference([0.1, 0.2], [0.0])


@pytest.mark.parametrize(
    ("counts", "low", "high"),
    [  # Newcombe (1998), Stat Med 17:873, Table II, method 10 (hybrid score, no continuity correction)
        ((56, 70, 48, 80), 0.0524, 0.3339),
        ((9, 10, 3, 10), 0.1705, 0.8090),
        ((5, 56, 0, 29), -0.0381, 0.1926),
        ((0, 10, 0, 20), -0.1611, 0.2775),
    ],
)
def test_proportion_difference_matches_newcombes_published_examples(counts, low, high) -> None:
    d = proportion_difference(*counts)
    assert proportion_difference(*np.array(counts)) == d  # counts summed by pandas are numpy integers
    assert d.diff == pytest.approx(counts[0] / counts[1] - counts[2] / counts[3])
    assert (d.low, d.high) == pytest.approx((low, high), abs=5e-5)


def test_proportion_difference_by_hand_from_wilson_bounds() -> None:
    # 3/6 - 1/4: Wilson bounds by the closed form, z = 1.959964
    z = 1.959963984540054

    def wilson(x: int, n: int) -> tuple[float, float]:
        p, half = x / n, z * math.sqrt(x / n * (1 - x / n) / n + z**2 / (4 * n**2))
        centre, scale = p + z**2 / (2 * n), 1 + z**2 / n
        return (centre - half) / scale, (centre + half) / scale

    (l_a, u_a), (l_b, u_b) = wilson(3, 6), wilson(1, 4)
    d = proportion_difference(3, 6, 1, 4)
    assert d.low == pytest.approx(0.25 - math.sqrt((0.5 - l_a) ** 2 + (u_b - 0.25) ** 2))
    assert d.high == pytest.approx(0.25 + math.sqrt((u_a - 0.5) ** 2 + (0.25 - l_b) ** 2))
    assert -1 <= d.low < d.diff < d.high <= 1
    assert d.verdict(+1, paper_effect=0.25) == "inconclusive (the interval holds both no difference and the paper's)"


@pytest.mark.parametrize("counts", [(3, 2, 1, 4), (1, 0, 1, 4), (-1, 4, 1, 4), (1.5, 4, 1, 4)])
def test_proportion_difference_refuses_counts_that_are_not_shares(counts) -> None:
    with pytest.raises(ValueError, match="need whole counts"):
        proportion_difference(*counts)


def test_paired_proportion_difference_matches_the_published_example() -> None:
    # Fagerland, Lydersen & Laake, Statistical Analysis of Contingency Tables (2017), ch. 8: complete response before
    # and after consolidation therapy (Cavo et al. 2012), [[59, 6], [16, 80]]: Newcombe square-and-add
    # -0.0621 (95 % CI -0.1186 to -0.0046)
    d = paired_proportion_difference(59, 6, 16, 80)
    assert d.diff == pytest.approx(-10 / 161)
    assert (d.low, d.high) == pytest.approx((-0.1186, -0.0046), abs=5e-5)
    assert paired_proportion_difference(*np.array([59, 6, 16, 80])) == d


def _wilson(x: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p, half = x / n, z * math.sqrt(x / n * (1 - x / n) / n + z**2 / (4 * n**2))
    centre, scale = p + z**2 / (2 * n), 1 + z**2 / n
    return (centre - half) / scale, (centre + half) / scale


@pytest.mark.parametrize(
    ("counts", "phi"),
    [
        ((5, 3, 1, 3), (15 - 3 - 6) / math.sqrt(8 * 4 * 6 * 6)),  # A = 12 > n/2 = 6: phi from A - n/2
        ((2, 3, 1, 3), 0.0),  # A = 3 <= n/2 = 4.5: phi 0 (the unpaired square-and-add on n runs)
        ((1, 4, 3, 2), (2 - 12) / math.sqrt(5 * 5 * 4 * 6)),  # A = -10 < 0: phi from A
        ((0, 4, 3, 0), -12 / math.sqrt(4 * 3 * 3 * 4)),  # A = -12: the judgements never agree, phi = -1
    ],
)
def test_paired_proportion_difference_by_hand(counts, phi) -> None:
    both, a_only, b_only, neither = counts
    n = sum(counts)
    p_a, p_b = (both + a_only) / n, (both + b_only) / n
    (l_a, u_a), (l_b, u_b) = _wilson(both + a_only, n), _wilson(both + b_only, n)
    d = paired_proportion_difference(*counts)
    assert d.diff == pytest.approx(p_a - p_b)
    low = p_a - p_b - math.sqrt((p_a - l_a) ** 2 - 2 * phi * (p_a - l_a) * (u_b - p_b) + (u_b - p_b) ** 2)
    high = p_a - p_b + math.sqrt((u_a - p_a) ** 2 - 2 * phi * (u_a - p_a) * (p_b - l_b) + (p_b - l_b) ** 2)
    assert (d.low, d.high) == pytest.approx((low, high))
    assert d.low < d.diff < d.high


def test_paired_proportion_difference_empty_margin_and_no_change() -> None:
    # every run flagged both times: a margin is empty, phi 0; no change: the interval is the Wilson margins' spread
    d = paired_proportion_difference(6, 0, 0, 0)
    spread = 1 - _wilson(6, 6)[0]
    assert d.diff == 0 and (d.low, d.high) == pytest.approx((-spread, spread))
    # pairing narrows the interval against treating the two judgements as independent groups
    paired, unpaired = paired_proportion_difference(10, 1, 6, 3), proportion_difference(11, 20, 16, 20)
    assert paired.diff == unpaired.diff and paired.high - paired.low < unpaired.high - unpaired.low


@pytest.mark.parametrize("counts", [(1, 2, 3, -1), (0, 0, 0, 0), (1.5, 0, 0, 1)])
def test_paired_proportion_difference_refuses_bad_counts(counts) -> None:
    with pytest.raises(ValueError, match="need whole counts >= 0"):
        paired_proportion_difference(*counts)
