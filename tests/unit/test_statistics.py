"""Welch's interval against a direct computation (scipy's own Welch t-test) and a hand case."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from trainfix.core.statistics import paired_difference, welch_difference


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
