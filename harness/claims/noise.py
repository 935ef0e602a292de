"""Is a difference between two cells larger than their noise? One comparison's test, and Holm's correction.

- Both sides with ≥ 2 seeds: Welch's t-test over the per-seed values (two-sided; `stats.welch_p`).
- Otherwise: an *indicative* two-sided z-test of the difference against the single-run standard errors
  (a side with one run: the calibrated standard error of the mean its result records, `se`, or, where
  the result records none, its recorded `std`; a side with ≥ 2 seeds: std/√n over the seeds). It is
  labelled indicative: one run per side says nothing about seed-to-seed variation.
- No spread on either side (one seed of a metric that records none, e.g. FCN scores): no test; the
  comparison is read from the means alone and says so.

Holm's step-down correction keeps the family-wise error rate of one claim's comparisons at alpha.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

from scipy import stats as scipy_stats

from harness.leaderboard.stats import Cell, welch_p

WELCH, INDICATIVE, NO_SPREAD = "Welch", "indicative", "no spread"


@dataclass(frozen=True)
class Spread:
    """The standard error one side of a comparison brings, and what it is."""

    se: Optional[float]
    source: str  # "seeds", "se (<se_method>)", "std (no se recorded)", "none"


def side_spread(cell: Cell, recorded_se: Optional[float] = None, se_method: Optional[str] = None) -> Spread:
    """The standard error of a cell's mean (see the module docstring for the rule)."""
    if cell.n >= 2 and cell.std is not None:
        return Spread(cell.std / math.sqrt(cell.n), "seeds")
    if recorded_se is not None and not math.isnan(recorded_se):
        return Spread(float(recorded_se), f"se ({se_method})" if se_method else "se")
    if cell.std is not None:
        return Spread(float(cell.std), f"std ({cell.std_kind or 'recorded'}; no se recorded)")
    return Spread(None, "none")


def test(a: Cell, b: Cell, spread_a: Spread, spread_b: Spread) -> tuple[str, Optional[float]]:
    """(kind of test, two-sided p) for the difference of the means of `a` and `b`."""
    if a.n >= 2 and b.n >= 2:
        return WELCH, welch_p(a.values, b.values)
    ses = [s.se for s in (spread_a, spread_b) if s.se is not None]
    if not ses:
        return NO_SPREAD, None
    scale = math.sqrt(sum(se * se for se in ses))
    difference = abs(a.mean - b.mean)
    if scale == 0:
        return INDICATIVE, 1.0 if difference == 0 else 0.0
    return INDICATIVE, float(2 * scipy_stats.norm.sf(difference / scale))


def holm(p_values: Sequence[Optional[float]]) -> list[Optional[float]]:
    """Holm-adjusted p-values (None stays None; the family is the p-values that exist).

    Sorted ascending, the i-th of m is multiplied by (m − i), made monotone and capped at 1; a
    comparison is significant at family-wise level alpha when its adjusted p < alpha.
    """
    present = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(present)
    adjusted: list[Optional[float]] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(present):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted
