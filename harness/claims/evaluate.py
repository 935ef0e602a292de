"""Check every claim against the result files: the tables `harness leaderboard` builds, the claims' verdicts.

Each claim's table is built exactly as the leaderboard builds it (the same collection, protocol guard and
schedule choice): for the claim set's own schedule (the paper's claims: `paper`; the demo's: `demo`), for
`--schedule` when given, or, for a claim set that names none, the most complete schedule in the results.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from harness.claims.compare import MissingRun, SideFactory, check_names, comparisons
from harness.claims.spec import ClaimSet, ClaimSpec, load_claim_sets
from harness.claims.verdict import UNDETERMINED, ClaimResult, decide, paper_reading
from harness.errors import UnknownNameError, UsageError
from harness.leaderboard.table import BuiltTable
from harness.leaderboard.collect import Collection, collect
from harness.leaderboard.guard import ProtocolClash
from harness.leaderboard.pick import build_with_default_schedule, schedules_for
from harness.leaderboard.specs import TableSpec, load_tables


class _Tables:
    """Built tables keyed by (table, schedule), each built once; a refusal is remembered as its message."""

    def __init__(self, collection: Collection, specs: list[TableSpec]):
        self.collection = collection
        self.specs = {s.name: s for s in specs}
        self.built: dict[tuple, BuiltTable | str] = {}

    def get(self, claim: ClaimSpec, schedule: Optional[str], where: str) -> BuiltTable | str:
        if claim.table not in self.specs:
            raise UnknownNameError("table", claim.table, self.specs, where=f"{where} claim {claim.id}")
        key = (claim.table, schedule)
        if key not in self.built:
            try:
                self.built[key] = build_with_default_schedule(self.specs[claim.table], self.collection, schedule)
            except ProtocolClash as exc:
                self.built[key] = str(exc)
        return self.built[key]


def missing_runs(result: ClaimResult, schedule: str) -> list[MissingRun]:
    """One entry per (task, harness method) whose runs a comparison lacks."""
    runs: dict[tuple, MissingRun] = {}
    for c in result.comparisons:
        for side in (c.a, c.b):
            if not side.missing:
                continue
            key = (c.column.task, side.results_method)
            entry = runs.setdefault(key, MissingRun(c.column.task, side.results_method, schedule,
                                                    side.seeds_needed, side.cell.n))
            entry.seeds_found = min(entry.seeds_found, side.cell.n)
            for reason in side.cell.unavailable:
                if reason not in entry.reasons:
                    entry.reasons.append(reason)
    return list(runs.values())


def _other_schedules(table: BuiltTable, collection: Collection, schedule: str) -> list[str]:
    return [s for s in schedules_for(table.spec, collection) if s != schedule]


def evaluate_claim(claim: ClaimSpec, claim_set: ClaimSet, tables: _Tables, schedule: Optional[str]) -> ClaimResult:
    if claim.form == "qualitative":
        return ClaimResult(claim, claim_set, UNDETERMINED,
                           "qualitative: no result cell measures it" + (f"; {claim.note}" if claim.note else ""))
    built = tables.get(claim, schedule, claim_set.source_file)
    if isinstance(built, str):
        first = built.splitlines()[0]
        return ClaimResult(claim, claim_set, UNDETERMINED, f"{first} (see `harness leaderboard`)",
                           schedule=schedule or "")
    check_names(claim, built)
    used = ", ".join(built.schedules) or schedule or "any"
    found = comparisons(claim, built, SideFactory(built, tables.collection, claim_set.seeds), claim_set.alpha)
    if not found:
        raise UsageError(f"{claim_set.source_file} claim {claim.id}: it makes no comparison (check its methods "
                         "and columns)")
    noisy, means = decide(claim, found)
    result = ClaimResult(claim, claim_set, noisy.verdict, noisy.reason, found, by_means=means,
                         on_paper=paper_reading(claim, found), schedule=used, decimals=built.spec.decimals)
    result.missing_runs = missing_runs(result, used)
    if result.missing_runs:
        others = _other_schedules(built, tables.collection, used)
        if others and not built.files:
            result.notes.append(f"results of schedule {', '.join(others)} exist for these tasks: "
                                f"`harness claims --schedule {others[0]}` checks the claim on them")
    if built.schedule_note:
        result.notes.append(built.schedule_note)
    if claim_set.schedule and built.schedules and claim_set.schedule not in built.schedules:
        result.notes.append(f"checked on schedule {used}; the claim is about schedule {claim_set.schedule}")
    return result


def select(sets: list[ClaimSet], only: tuple[str, ...]) -> list[tuple[ClaimSet, ClaimSpec]]:
    """(set, claim) pairs; `only` names claim sets or claim ids."""
    pairs = [(s, c) for s in sets for c in s.claims]
    if not only:
        return pairs
    known = [s.name for s in sets] + [c.id for _, c in pairs]
    for name in only:
        if name not in known:
            raise UnknownNameError("claim set or claim", name, known)
    return [(s, c) for s, c in pairs if s.name in only or c.id in only]


def evaluate_claims(results: str | Path, schedule: Optional[str] = None, claim_dirs: tuple[Path, ...] = (),
                    table_dirs: tuple[Path, ...] = (), only: tuple[str, ...] = ()) -> list[ClaimResult]:
    """Every claim (or those of `only`) checked against the result files under `results`."""
    pairs = select(load_claim_sets(claim_dirs), only)
    tables = _Tables(collect(results), load_tables(table_dirs))
    return [evaluate_claim(claim, claim_set, tables, schedule or claim_set.schedule) for claim_set, claim in pairs]
