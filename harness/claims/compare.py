"""One claim's comparisons: which cells of a built leaderboard table it pits against which, and how each reads.

A comparison says "`a` is better than `b` in this column" (a tie comparison: "`a` and `b` are within the
noise"). It reads one of four ways: agrees, disagrees, inside the noise (not distinguishable) or missing.
Three readings are kept apart: with the noise (the verdict: tests, Holm), from the means alone (what the
verdict would be if every difference were real: robustness is the two agreeing) and on the paper's printed
numbers (is the claim, as encoded, what the paper's own table says).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

from harness.claims import noise
from harness.claims.noise import Spread
from harness.claims.spec import ALPHA, ClaimSpec
from harness.errors import UsageError, did_you_mean
from harness.leaderboard.table import BuiltRow, BuiltTable
from harness.leaderboard.collect import Collection
from harness.leaderboard.specs import ColumnSpec
from harness.leaderboard.stats import Cell

AGREES, DISAGREES, INSIDE, MISSING = "agrees", "disagrees", "inside the noise", "missing"
NOISE, MEANS, PAPER = "noise", "means", "paper"


@dataclass
class Side:
    """One method's cell in one column: the reproduced runs, the paper's number, the standard error used."""

    method: str  # the table's row name (the paper's)
    label: str
    results_method: str
    cell: Cell
    paper: Cell
    spread: Spread = Spread(None, "none")
    seeds_needed: int = 1

    @property
    def missing(self) -> bool:
        return not self.cell.present or self.cell.n < self.seeds_needed


@dataclass
class Comparison:
    column: ColumnSpec
    a: Side
    b: Side
    tie: bool = False
    margin: Optional[float] = None
    test: str = ""  # noise.WELCH | noise.INDICATIVE | noise.NO_SPREAD
    p: Optional[float] = None
    p_holm: Optional[float] = None
    alpha: float = ALPHA

    def difference(self, reading: str = NOISE) -> Optional[float]:
        """How much better `a` is than `b` (positive: `a` better), in the column's units; None when missing."""
        ca, cb = (self.a.paper, self.b.paper) if reading == PAPER else (self.a.cell, self.b.cell)
        if not (ca.present and cb.present):
            return None
        raw = ca.mean - cb.mean
        return -raw if self.column.lower_is_better else raw

    @property
    def missing(self) -> bool:
        return self.a.missing or self.b.missing

    def _within_margin(self, d: float) -> bool:
        # printed numbers differ by float noise (0.63 − 0.61 > 0.02 in binary): a margin is met up to rounding
        return d == 0 or (self.margin is not None and (abs(d) <= self.margin or math.isclose(abs(d), self.margin)))

    def direction(self, reading: str) -> str:
        """AGREES (a better), DISAGREES (b better), INSIDE or MISSING, before the tie claim's inversion."""
        if reading != PAPER and self.missing:
            return MISSING
        d = self.difference(reading)
        if d is None:
            return MISSING
        if self._within_margin(d):
            return INSIDE
        if reading == NOISE and self.p_holm is not None and self.p_holm >= self.alpha:
            return INSIDE
        return AGREES if d > 0 else DISAGREES

    def state(self, reading: str = NOISE) -> str:
        """How this comparison reads for the claim (a tie claim agrees when the difference is inside the noise)."""
        found = self.direction(reading)
        if not self.tie or found == MISSING:
            return found
        return AGREES if found == INSIDE else DISAGREES

    @property
    def indicative(self) -> bool:
        return self.test in (noise.INDICATIVE, noise.NO_SPREAD)


@dataclass
class MissingRun:
    task: str
    method: str  # the harness method whose run would fill the cell
    schedule: str
    seeds_needed: int
    seeds_found: int
    reasons: list[str] = field(default_factory=list)  # runs that exist but could not compute the metric

    def text(self) -> str:
        what = (f"{self.task} · {self.method} · schedule {self.schedule} · {self.seeds_needed} seed"
                f"{'s' if self.seeds_needed > 1 else ''}")
        found = f" (found {self.seeds_found})" if self.seeds_found else ""
        why = f"; metric unavailable in {'; '.join(self.reasons[:2])}" if self.reasons else ""
        return what + found + why


def _row(table: BuiltTable, name: str) -> Optional[BuiltRow]:
    for row in table.rows:
        if not row.ceiling and name in (row.spec.method, row.spec.source_method):
            return row
    return None


def check_names(claim: ClaimSpec, table: BuiltTable) -> None:
    """Methods must be rows of a table with fixed rows (a typo is an error, not a "missing run")."""
    spec = table.spec
    if spec.auto_rows:
        return
    known = [r.method for r in spec.rows] + [r.source_method for r in spec.rows] + list(spec.reference_methods)
    named = set(claim.subjects) | set(claim.than) | set(claim.among) | {m for g in claim.ranks for m in g}
    for name in sorted(named):
        if name not in known:
            sugg = did_you_mean(name, known)
            raise UsageError(f"claim {claim.id}: {name!r} is not a row of table {spec.name}"
                             + (f"; did you mean {sugg[0]!r}?" if sugg else f" (rows: {', '.join(known)})"))


def _names(column: ColumnSpec) -> tuple[str, ...]:
    """How a claim may name a column: its label, or `direction metric` / `task direction metric` (these
    survive a relabelled table)."""
    return (column.title, f"{column.direction} {column.metric}", f"{column.task} {column.direction} {column.metric}")


def select_columns(claim: ClaimSpec, table: BuiltTable) -> list[int]:
    names = [_names(c) for c in table.spec.columns]
    known = [n for group in names for n in group]
    for ref in (*claim.columns, *claim.except_):
        if ref not in known:
            sugg = did_you_mean(ref, known)
            titles = ", ".join(group[0] for group in names)
            raise UsageError(f"claim {claim.id}: {ref!r} is not a column of table {table.spec.name}"
                             + (f"; did you mean {sugg[0]!r}?" if sugg else f" (columns: {titles})"))
    chosen = [i for i, group in enumerate(names) if not claim.columns or set(group) & set(claim.columns)]
    return [i for i in chosen if not set(names[i]) & set(claim.except_)]


def _se_index(collection: Collection) -> dict[tuple, tuple]:
    """(file, direction key or name, metric) -> (se, se_method) for every entry that records an `se`."""
    index: dict[tuple, tuple] = {}
    frame = collection.metrics
    if "se" not in frame.columns:
        return index
    for rec in frame[frame.se.notna()].to_dict("records"):
        for direction in (rec["direction_key"], rec["direction_name"]):
            index[(rec["file"], direction, rec["metric"])] = (rec["se"], rec.get("se_method"))
    return index


class SideFactory:
    """Sides of one built table, with each single run's recorded `se` looked up in the collection."""

    def __init__(self, table: BuiltTable, collection: Collection, seeds: int):
        self.table, self.seeds = table, seeds
        self.se = _se_index(collection)

    def side(self, name: str, index: int) -> Side:
        row = _row(self.table, name)
        if row is None:  # a method with no results (auto-row tables list only what they found)
            return Side(name, name, name, Cell(), Cell(), seeds_needed=self.seeds)
        cell, column = row.reproduced[index], self.table.spec.columns[index]
        recorded = self.se.get((cell.files[0], column.direction, column.metric)) if cell.n == 1 else None
        spread = noise.side_spread(cell, *(recorded or (None, None)))
        return Side(row.spec.method, row.spec.title, row.spec.source_method, cell, row.reported[index], spread,
                    self.seeds)


def comparisons(claim: ClaimSpec, table: BuiltTable, sides: SideFactory, alpha: float) -> list[Comparison]:
    """Every comparison the claim's form makes, in column order (see spec.py for the forms)."""
    columns = select_columns(claim, table)
    competitors = [r.spec.method for r in table.competitors]
    out = []
    for i in columns:
        column = table.spec.columns[i]
        pairs: list[tuple[str, str]] = []
        if claim.form == "beats":
            pairs = [(a, b) for a in claim.subjects for b in claim.than if a != b]
        elif claim.form in ("best", "best_count"):
            subject = claim.subjects[0]
            rivals = [m for m in (claim.among or competitors) if m != subject]
            pairs = [(subject, b) if claim.sense == "best" else (b, subject) for b in rivals]
        elif claim.form == "order":
            ranks = claim.ranks
            pairs = [(a, b) for upper, lower in zip(ranks, ranks[1:]) for a in upper for b in lower]
        elif claim.form == "tie":
            flat = [m for g in claim.ranks for m in g]
            pairs = [(a, b) for k, a in enumerate(flat) for b in flat[k + 1:]]
        for a, b in pairs:
            out.append(Comparison(column, sides.side(a, i), sides.side(b, i), tie=claim.form == "tie",
                                  margin=claim.margin, alpha=alpha))
    for c in out:
        if not c.missing:
            c.test, c.p = noise.test(c.a.cell, c.b.cell, c.a.spread, c.b.spread)
    for c, adjusted in zip(out, noise.holm([c.p for c in out])):
        c.p_holm = adjusted
    return out
