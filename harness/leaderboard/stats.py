"""Cell statistics and the per-column ranking rules.

A cell is the numbers behind one (row, column):
- one seed: its value, ± the metric's own std, `std_kind` = how it was estimated (KID: "subsets" or
  "bootstrap_images"); no ± when the result records none or an unusable one (see collect.usable_spread);
  and `se`, the standard error of the value itself when the result records one (KID: a jackknife over
  images, calibrated; see evaluation/kid_se.py). The std is the paper's convention for the ±, not the
  uncertainty of the value: it can be many times too wide (bootstrap) or too narrow (subsets);
- k ≥ 2 seeds: mean ± sample std (ddof=1) over the seeds, `std_kind="seeds"`, n = k;
- the paper: its printed value ± printed std, `std_kind="paper"`.

Ranking a column (reference rows never compete):
1. **Best** (bold): the best mean *at the displayed precision*; exact ties at that precision are all bold.
2. **Close** (underlined in LaTeX, italic in markdown): a competitor that cannot be told apart from the
   best. With ≥ 2 seeds on both sides: Welch's t-test p ≥ alpha; else, when both cells know the
   standard error of their value (a single run's recorded `se`, or std/√n over seeds): a two-sided
   z-test on the difference, p ≥ alpha; else (results written before `se` existed): the mean ± std
   intervals overlap. Cells without any spread (one value, no std, no se) are never close.
3. **Significant** (*): a single best that differs from the runner-up by the same test (Welch's
   t-test with ≥ 2 seeds on both sides, else the z-test on the standard errors), p < alpha = 0.05.
   No mark when neither test can run.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
from scipy import stats as _scipy_stats

ALPHA = 0.05


@dataclass
class Cell:
    mean: Optional[float] = None
    std: Optional[float] = None
    n: int = 0
    std_kind: Optional[str] = None  # "seeds" | "subsets" | "paper" | None
    se: Optional[float] = None  # standard error of `mean` (single run: as recorded; seeds: std/√n)
    values: tuple[float, ...] = ()
    seeds: tuple[int, ...] = ()
    files: tuple[str, ...] = ()
    unavailable: tuple[str, ...] = ()  # reasons given by result files whose metric could not be computed
    test_only: bool = False  # a value exists but came from a test-only tool (for_leaderboards: false)
    bold: bool = False
    close: bool = False
    significant: bool = False
    p_value: Optional[float] = None  # best vs runner-up, on the best cell
    extra: dict = field(default_factory=dict)

    @property
    def present(self) -> bool:
        return self.mean is not None


def from_runs(values: Sequence[float], stds: Sequence[Optional[float]], seeds: Sequence[int] = (),
              files: Sequence[str] = (), unavailable: Sequence[str] = (),
              std_kinds: Sequence[Optional[str]] = (), ses: Sequence[Optional[float]] = ()) -> Cell:
    """Summarise one method's runs for one column (see the module docstring for the std rule).

    `stds` must already be usable spreads (collect.usable_spread): None where a result records no
    spread, an unavailable one or a degenerate one; such a cell shows no ± and is never "close".
    """
    vals = [float(v) for v in values]
    cell = Cell(values=tuple(vals), seeds=tuple(seeds), files=tuple(files), unavailable=tuple(unavailable),
                n=len(vals))
    if len(vals) == 1:
        cell.mean = vals[0]
        std = stds[0] if stds else None
        cell.std = None if std is None or (isinstance(std, float) and math.isnan(std)) else float(std)
        kind = std_kinds[0] if std_kinds and isinstance(std_kinds[0], str) else "subsets"
        cell.std_kind = kind if cell.std is not None else None
        se = ses[0] if ses else None
        cell.se = None if se is None or not math.isfinite(float(se)) else float(se)
    elif len(vals) > 1:
        cell.mean = float(np.mean(vals))
        cell.std = float(np.std(vals, ddof=1))
        cell.std_kind = "seeds"
        cell.se = cell.std / math.sqrt(len(vals))
    return cell


def from_paper(value: Optional[float], std: Optional[float]) -> Cell:
    if value is None:
        return Cell()
    return Cell(mean=float(value), std=std, n=0, std_kind="paper" if std is not None else None)


def welch_p(a: Sequence[float], b: Sequence[float]) -> Optional[float]:
    """Two-sided Welch's t-test p-value, or None when either side has fewer than 2 values."""
    if len(a) < 2 or len(b) < 2:
        return None
    if np.std(a) == 0 and np.std(b) == 0:
        return 0.0 if np.mean(a) != np.mean(b) else 1.0
    with warnings.catch_warnings():  # near-identical seeds make scipy warn about precision; p is still usable
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(_scipy_stats.ttest_ind(a, b, equal_var=False).pvalue)


def z_p(a: Cell, b: Cell) -> Optional[float]:
    """Two-sided p of a z-test on the difference of two means from their standard errors, or None."""
    if a.se is None or b.se is None:
        return None
    scale = math.hypot(a.se, b.se)
    if scale == 0:
        return 0.0 if a.mean != b.mean else 1.0
    return float(2 * _scipy_stats.norm.sf(abs(a.mean - b.mean) / scale))


def _overlap(a: Cell, b: Cell) -> bool:
    if a.std is None or b.std is None:
        return False
    return abs(a.mean - b.mean) <= a.std + b.std


def difference_p(a: Cell, b: Cell) -> Optional[float]:
    """p that `a` and `b` differ: Welch over seeds when both have ≥ 2, else the z-test on their se."""
    if a.std_kind == "seeds" and b.std_kind == "seeds":
        return welch_p(a.values, b.values)
    return z_p(a, b)


def rank(cells: Sequence[Cell], lower_is_better: bool, decimals: int, alpha: float = ALPHA) -> None:
    """Set bold / close / significant on the competing `cells` of one column (in place)."""
    present = [c for c in cells if c.present]
    for c in present:
        c.bold = c.close = c.significant = False
        c.p_value = None
    if not present:
        return
    shown = {id(c): round(c.mean, decimals) for c in present}
    pick = min if lower_is_better else max
    best_value = pick(shown.values())
    best = [c for c in present if shown[id(c)] == best_value]
    others = sorted((c for c in present if shown[id(c)] != best_value), key=lambda c: c.mean,
                    reverse=not lower_is_better)
    for c in best:
        c.bold = True
    leader = best[0]
    for c in others:
        p = difference_p(leader, c) if len(best) == 1 else None
        c.close = (p >= alpha) if p is not None else _overlap(leader, c)
    if len(best) == 1 and others:
        leader.p_value = difference_p(leader, others[0])
        leader.significant = leader.p_value is not None and leader.p_value < alpha
