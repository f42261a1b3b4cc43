"""The 95 % Welch t interval of a method-minus-baseline difference of means over independent seeds, the paired
t interval when both arms share each seed's starting point (`paired_difference`), and the interval of a difference
of two shares of runs (`proportion_difference`, Newcombe's; `paired_proportion_difference` when the same runs are
judged twice).

Welch: no equal-variance assumption; with a table's 2-5 seeds a bootstrap resamples too few distinct
values to say anything. With n = 2 per arm the interval is wide by construction: that is the information.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral

from scipy import stats


@dataclass(frozen=True)
class Difference:
    """a - b (of means, or of shares) with its 95 % interval (nan bounds when an arm has too few values); `df`: the
    t interval's degrees of freedom, nan for an interval that is not a t interval."""

    diff: float
    low: float
    high: float
    df: float

    def text(self, digits: int = 2) -> str:
        """'+0.82 [-0.31, +1.95]', or '+0.82 (no interval: n < 2)'."""
        if math.isnan(self.low):
            return f"{self.diff:+.{digits}f} (no interval: n < 2)"
        return f"{self.diff:+.{digits}f} [{self.low:+.{digits}f}, {self.high:+.{digits}f}]"

    def scaled(self, factor: float) -> Difference:
        """The same difference in other units (e.g. 100: shares as percentage points)."""
        return Difference(factor * self.diff, factor * self.low, factor * self.high, self.df)

    def verdict(
        self, claimed_sign: int, paper_effect: float | None = None, zero_only: str | None = None, digits: int = 2
    ) -> str:
        """What the interval says of a claimed positive (+1) or negative (-1) difference, and of the paper's
        own difference `paper_effect` when given (shown with `digits` decimals, as `text` shows ours). `zero_only`:
        why there is no paper effect to test (a row the paper does not have, a measure it does not report), said
        when the interval holds zero."""
        if math.isnan(self.low):
            return "not testable (n < 2)"
        if claimed_sign * self.low > 0 and claimed_sign * self.high > 0:
            return "reproduced"
        if claimed_sign * self.high < 0 and claimed_sign * self.low < 0:
            return "not reproduced (the opposite holds)"
        if paper_effect is not None and self.low <= paper_effect <= self.high:
            return "inconclusive (the interval holds both no difference and the paper's)"
        if paper_effect is not None:
            effect = f"{paper_effect:+.{digits}f}"
            return f"not reproduced (no difference shown; the paper's {effect} is outside the interval)"
        return (
            f"not reproduced (no difference shown; {zero_only})"
            if zero_only
            else "not reproduced (no difference shown)"
        )


def welch_difference(
    mean_a: float, std_a: float, n_a: int, mean_b: float, std_b: float, n_b: int, level: float = 0.95
) -> Difference:
    """mean_a - mean_b and its Welch t interval from each arm's mean, sample std (ddof 1) and n."""
    diff = mean_a - mean_b
    if n_a < 2 or n_b < 2:
        return Difference(diff, math.nan, math.nan, math.nan)
    va, vb = std_a**2 / n_a, std_b**2 / n_b
    se = math.sqrt(va + vb)
    if se == 0:
        return Difference(diff, diff, diff, math.inf)
    df = (va + vb) ** 2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1))
    half = float(stats.t.ppf(0.5 + level / 2, df)) * se
    return Difference(diff, diff - half, diff + half, df)


def paired_difference(method: list[float], baseline: list[float], level: float = 0.95) -> Difference:
    """mean(method - baseline) over pairs that share a seed's start (one input model, its batches) and the paired
    t interval of it: a one-sample t interval of the differences (Welch's with a baseline of no spread: df n - 1)."""
    if len(method) != len(baseline):
        raise ValueError(f"paired arms need one value per seed each; got {len(method)} and {len(baseline)}")
    d = [a - b for a, b in zip(method, baseline)]
    n = len(d)
    mean = sum(d) / n if n else math.nan
    std = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1)) if n > 1 else math.nan
    return welch_difference(mean, std, n, 0.0, 0.0, n, level)


def proportion_difference(x_a: int, n_a: int, x_b: int, n_b: int, level: float = 0.95) -> Difference:
    """x_a/n_a - x_b/n_b for two independent groups of runs and Newcombe's hybrid score interval of it (Newcombe
    1998, Stat Med 17:873, method 10): each share's Wilson score interval (scipy), combined as
    [d - sqrt((p_a - l_a)^2 + (u_b - p_b)^2), d + sqrt((u_a - p_a)^2 + (p_b - l_b)^2)]. Unlike the Wald interval it
    stays inside [-1, 1] and keeps its coverage at shares near 0 or 1 and at a few dozen runs."""
    for x, n, arm in ((x_a, n_a, "a"), (x_b, n_b, "b")):
        if not (isinstance(n, Integral) and isinstance(x, Integral) and n >= 1 and 0 <= x <= n):
            raise ValueError(f"arm {arm}: {x} of {n} runs; need whole counts with 0 <= count <= runs and runs >= 1")
    (p_a, l_a, u_a), (p_b, l_b, u_b) = (
        (x / n, *stats.binomtest(x, n).proportion_ci(level, method="wilson")) for x, n in ((x_a, n_a), (x_b, n_b))
    )
    d = p_a - p_b
    low = d - math.sqrt((p_a - l_a) ** 2 + (u_b - p_b) ** 2)
    high = d + math.sqrt((u_a - p_a) ** 2 + (p_b - l_b) ** 2)
    return Difference(d, low, high, math.nan)


def paired_proportion_difference(both: int, a_only: int, b_only: int, neither: int, level: float = 0.95) -> Difference:
    """p_a - p_b for one set of runs judged twice (a and b, e.g. the same runs at two budgets), from the paired
    2x2 counts, and Newcombe's square-and-add interval for paired shares (Newcombe 1998, Stat Med 17:2635, method
    10): the two margins' Wilson intervals combined as in `proportion_difference`, less their covariance, through
    the phi coefficient of the table with Newcombe's correction (A = both x neither - a_only x b_only; phi uses
    A - n/2 when A > n/2, 0 when 0 <= A <= n/2, A when A < 0; 0 when a margin is empty)."""
    counts = {"both": both, "a_only": a_only, "b_only": b_only, "neither": neither}
    bad = {k: v for k, v in counts.items() if not (isinstance(v, Integral) and v >= 0)}
    if bad or sum(counts.values()) < 1:
        raise ValueError(f"paired counts {counts}: need whole counts >= 0 with at least one run")
    n = both + a_only + b_only + neither
    margins = (both + a_only, b_only + neither, both + b_only, a_only + neither)  # a yes, a no, b yes, b no
    (p_a, l_a, u_a), (p_b, l_b, u_b) = (
        (x / n, *stats.binomtest(x, n).proportion_ci(level, method="wilson")) for x in (margins[0], margins[2])
    )
    a = both * neither - a_only * b_only
    corrected = a - n / 2 if a > n / 2 else (0.0 if a >= 0 else a)
    phi = 0.0 if 0 in margins else corrected / math.sqrt(math.prod(margins))
    d = p_a - p_b
    low = d - math.sqrt((p_a - l_a) ** 2 - 2 * phi * (p_a - l_a) * (u_b - p_b) + (u_b - p_b) ** 2)
    high = d + math.sqrt((u_a - p_a) ** 2 - 2 * phi * (u_a - p_a) * (p_b - l_b) + (p_b - l_b) ** 2)
    return Difference(d, low, high, math.nan)
