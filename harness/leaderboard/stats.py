"""Cell statistics and the per-column ranking rules.

A cell is the numbers behind one (row, column):
- one seed: its value, ± the metric's own std, `std_kind` = how it was estimated (KID: "subsets" or
  "bootstrap_images"); no ± when the result records none or an unusable one (see collect.usable_spread);
- k ≥ 2 seeds: mean ± sample std (ddof=1) over the seeds, `std_kind="seeds"`, n = k;
- the paper: its printed value ± printed std, `std_kind="paper"`.

Ranking a column (reference rows never compete):
1. **Best** (bold): the best mean *at the displayed precision*; exact ties at that precision are all bold.
2. **Close** (underlined in LaTeX, italic in markdown): a competitor that cannot be told apart from the
   best. With ≥ 2 seeds on both sides: Welch's t-test p ≥ alpha; otherwise: the mean ± std intervals
   overlap. Cells without any spread (one value, no std) are never close, only tied or not.
3. **Significant** (*): a single best whose per-seed values differ from the runner-up's by Welch's
   t-test (two-sided, p < alpha = 0.05), both with ≥ 2 seeds. No mark when the test cannot run.
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
              std_kinds: Sequence[Optional[str]] = ()) -> Cell:
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
    elif len(vals) > 1:
        cell.mean = float(np.mean(vals))
        cell.std = float(np.std(vals, ddof=1))
        cell.std_kind = "seeds"
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


def _overlap(a: Cell, b: Cell) -> bool:
    if a.std is None or b.std is None:
        return False
    return abs(a.mean - b.mean) <= a.std + b.std


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
        p = welch_p(leader.values, c.values) if len(best) == 1 and leader.std_kind == "seeds" else None
        c.close = (p >= alpha) if p is not None else _overlap(leader, c)
    if len(best) == 1 and others and leader.std_kind == "seeds" and others[0].std_kind == "seeds":
        leader.p_value = welch_p(leader.values, others[0].values)
        leader.significant = leader.p_value is not None and leader.p_value < alpha
