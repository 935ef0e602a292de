"""Which results a table shows when the results folder holds several schedules.

Results of different schedules never share a table (the protocol guard refuses them). Without
`--schedule`, each table shows the schedule that fills it most (most reproduced cells, then most
result files, then the longer schedule) and says so in a note naming the others, instead of
refusing the table because, say, a smoke run sits next to a `short` run.
"""
from __future__ import annotations

from typing import Optional

from harness.leaderboard.build import build_table
from harness.leaderboard.collect import Collection, filter_schedule
from harness.leaderboard.guard import ProtocolClash
from harness.leaderboard.specs import TableSpec
from harness.leaderboard.table import BuiltTable
from harness.registry import SCHEDULES


def _length(schedule: str) -> int:
    """Total epochs of a registered schedule (a longer schedule wins ties); unknown names count 0."""
    return SCHEDULES.get(schedule).epochs if schedule in SCHEDULES else 0


def schedules_for(spec: TableSpec, collection: Collection) -> list[str]:
    runs = collection.runs[collection.runs.task.isin(spec.tasks)]
    return sorted(set(runs.schedule.dropna().astype(str)))


def build_with_default_schedule(spec: TableSpec, collection: Collection, schedule: Optional[str]) -> BuiltTable:
    """The table for `schedule`, or (None) for the most complete schedule among its results.

    Raises ProtocolClash only when no schedule yields a table (or the one asked for clashes).
    """
    candidates = schedules_for(spec, collection)
    if schedule is not None or len(candidates) <= 1:
        return build_table(spec, filter_schedule(collection, schedule))
    built: dict[str, BuiltTable] = {}
    clashes: dict[str, str] = {}
    for name in candidates:
        try:
            built[name] = build_table(spec, filter_schedule(collection, name))
        except ProtocolClash as exc:
            clashes[name] = str(exc)
    if not built:
        raise ProtocolClash("\n".join(clashes[n] + f"\n  (schedule {n})" for n in candidates))
    best = max(built, key=lambda n: (built[n].filled()[0], len(built[n].files), _length(n), n))
    table = built[best]
    others = [f"`{n}` ({built[n].filled()[0]}/{built[n].filled()[1]} cells)" for n in candidates
              if n in built and n != best] + [f"`{n}` (refused: mixed protocols)" for n in candidates if n in clashes]
    filled, total = table.filled()
    table.schedule_note = (f"Schedule shown: `{best}` ({filled}/{total} cells), the most complete of the schedules in "
                           f"the results; also found: {', '.join(others)}. `harness leaderboard --schedule NAME` "
                           "builds the table for another.")
    table.notes.insert(0, table.schedule_note)
    return table
