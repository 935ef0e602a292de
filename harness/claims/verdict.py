"""A claim's verdict from its comparisons: holds, refuted or not determined, with the reason and robustness.

Rules (the same for every reading; see compare.py for the readings):
- beats, best, order, tie: every comparison must agree. One that disagrees refutes the claim (even while
  other cells are missing); otherwise a missing cell leaves it not determined, and so does a comparison
  inside the noise: a difference the noise cannot tell from zero never counts as holding.
- best_count: a column counts as won when all its comparisons agree, as lost when one disagrees,
  undecided otherwise. The claim holds when the won/lost columns alone settle the count, is refuted
  when no way of deciding the undecided columns could satisfy it, and is not determined in between.
The verdict is robust when the reading from the means alone gives the same verdict.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from harness.claims.compare import DISAGREES, INSIDE, MEANS, MISSING, NOISE, PAPER, Comparison, MissingRun
from harness.claims.noise import NO_SPREAD
from harness.claims.spec import ClaimSet, ClaimSpec

HOLDS, REFUTED, UNDETERMINED = "holds", "refuted", "not determined"
BEYOND = " beyond the noise"


@dataclass
class Reading:
    verdict: str
    reason: str


@dataclass
class ClaimResult:
    claim: ClaimSpec
    claim_set: ClaimSet
    verdict: str
    reason: str
    comparisons: list[Comparison] = field(default_factory=list)
    missing_runs: list[MissingRun] = field(default_factory=list)
    by_means: Optional[Reading] = None
    on_paper: Optional[Reading] = None
    schedule: str = ""
    notes: list[str] = field(default_factory=list)
    decimals: int = 2  # the table's precision, for the evidence cells

    @property
    def tested(self) -> int:
        return sum(c.p is not None for c in self.comparisons)

    @property
    def indicative(self) -> bool:
        """The verdict rests on at least one comparison without a test over seeds."""
        return self.verdict != UNDETERMINED and any(c.indicative for c in self.comparisons)

    @property
    def verdict_text(self) -> str:
        return self.verdict + (" (indicative)" if self.indicative else "")

    @property
    def robustness(self) -> str:
        present = [c for c in self.comparisons if not c.missing]
        if self.claim.form == "qualitative" or self.by_means is None or not present:
            return "—"
        inside = sum(c.direction(NOISE) == INSIDE for c in present)
        unspread = sum(c.test == NO_SPREAD for c in present)
        if unspread == len(present):
            return ("not assessed: no spread recorded (one run per method of a metric without a standard error; "
                    "runs with ≥ 2 seeds give a test)")
        if self.verdict == UNDETERMINED and self.by_means.verdict == UNDETERMINED:
            text = f"{inside} of {len(present)} not distinguishable" if inside else "—"
        elif self.by_means.verdict == self.verdict:
            text = "robust" + (f" ({inside} not distinguishable, not needed for the verdict)"
                               if inside and self.verdict != UNDETERMINED else "")
        else:
            text = (f"not robust: {self.by_means.verdict} by the means, but {inside} of {len(present)} "
                    "comparisons are not distinguishable")
        if unspread:
            text += f"; {unspread} without any spread (read from the means)"
        return text

    @property
    def tests_text(self) -> str:
        if not self.comparisons:
            return "—"
        total, tested = len(self.comparisons), self.tested
        missing = sum(c.missing for c in self.comparisons)
        parts = [f"{tested} tested, Holm at α={self.claim_set.alpha:g}" if tested else ""]
        parts += [f"{missing} missing" if missing else "", f"{total - tested - missing} without spread"
                  if total - tested - missing else ""]
        return f"{total} comparison{'s' if total > 1 else ''}: " + ", ".join(p for p in parts if p)


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _all_agree(states: list[str], noun: str = "comparison", how: str = "") -> Reading:
    n = len(states)
    against, missing, inside = states.count(DISAGREES), states.count(MISSING), states.count(INSIDE)
    of_n = f" of {n} {noun}{'s' if n != 1 else ''}"
    if against:
        return Reading(REFUTED, f"{against}{of_n} contradict{'s' if against == 1 else ''} it{how}")
    if missing:
        return Reading(UNDETERMINED, f"{missing}{of_n} lack{'s' if missing == 1 else ''} runs")
    if inside:  # (the noise reading's "beyond the noise" would contradict itself here)
        suffix = "" if how == BEYOND else how
        return Reading(UNDETERMINED, f"{inside}{of_n} not distinguishable (inside the noise){suffix}")
    return Reading(HOLDS, f"{'all ' if n > 1 else ''}{_plural(n, noun)} agree{'s' if n == 1 else ''}{how}")


def _how(comparisons: list[Comparison], reading: str) -> str:
    if reading == PAPER:
        return " on the paper's numbers"
    if reading == MEANS:
        return " by the means"
    unspread = sum(c.test == NO_SPREAD for c in comparisons if not c.missing)
    return f" ({unspread} read from the means alone: no spread recorded)" if unspread else BEYOND


def _count(claim: ClaimSpec, comparisons: list[Comparison], reading: str) -> Reading:
    by_column: dict[str, list[str]] = {}
    for c in comparisons:
        by_column.setdefault(c.column.title, []).append(c.state(reading))
    won = lost = undecided = missing = 0
    for states in by_column.values():
        verdict = _all_agree(states).verdict
        if verdict == HOLDS:
            won += 1
        elif verdict == REFUTED:
            lost += 1
        elif MISSING in states:
            missing += 1
        else:
            undecided += 1
    n, k = len(by_column), claim.count or 0
    what = f"{claim.sense} in {won} of {n} columns{'' if missing else _how(comparisons, reading)}"
    what += (f", {undecided} undecided" if undecided else "") + (f", {missing} with missing runs" if missing else "")
    what += f" (claim: {claim.mode.replace('_', ' ')} {k})"
    low, high = won, n - lost  # the count once the open columns are decided, at worst and at best
    if claim.mode == "exactly":
        holds, impossible = low == k == high, not low <= k <= high
    elif claim.mode == "at_least":
        holds, impossible = low >= k, high < k
    else:
        holds, impossible = high <= k, low > k
    if impossible:
        return Reading(REFUTED, what)
    return Reading(HOLDS if holds else UNDETERMINED, what)


def read(claim: ClaimSpec, comparisons: list[Comparison], reading: str) -> Reading:
    if claim.form == "best_count":
        return _count(claim, comparisons, reading)
    return _all_agree([c.state(reading) for c in comparisons], how=_how(comparisons, reading))


def paper_reading(claim: ClaimSpec, comparisons: list[Comparison]) -> Optional[Reading]:
    """The claim on the paper's printed numbers (None when the paper prints none of its cells)."""
    if not any(c.a.paper.present or c.b.paper.present for c in comparisons):
        return None
    return read(claim, comparisons, PAPER)


def decide(claim: ClaimSpec, comparisons: list[Comparison]) -> tuple[Reading, Reading]:
    """(the verdict with the noise, the reading from the means alone)."""
    return read(claim, comparisons, NOISE), read(claim, comparisons, MEANS)


__all__ = ["ClaimResult", "Reading", "decide", "paper_reading", "HOLDS", "REFUTED", "UNDETERMINED", "MEANS"]
