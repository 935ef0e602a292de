"""A built table as data: its rows of reported and reproduced cells, and what its notes and caption say.
`build.py` fills it; `annotate.py`, the renderers, the report and the claims read it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from harness.leaderboard.specs import RowSpec, TableSpec
from harness.leaderboard.stats import Cell


@dataclass
class BuiltRow:
    spec: RowSpec
    reference: bool
    reported: list[Cell]
    reproduced: list[Cell]
    ceiling: bool = False  # the segmenter-ceiling row (derived from the results' `ceiling` fields)
    marker: str = ""  # e.g. † for a re-implemented method

    @property
    def title(self) -> str:
        return self.spec.title + self.marker

    def delta(self, i: int) -> Optional[float]:
        """Reproduced minus reported; None when either is missing (never zero by default)."""
        rep, ours = self.reported[i], self.reproduced[i]
        return None if not (rep.present and ours.present) else ours.mean - rep.mean


@dataclass
class BuiltTable:
    spec: TableSpec
    rows: list[BuiltRow]
    files: list[str] = field(default_factory=list)
    schedules: list[str] = field(default_factory=list)
    protocols: list[str] = field(default_factory=list)
    excluded_overrides: int = 0
    not_evaluated: list[str] = field(default_factory=list)  # result files whose metrics are not in yet
    caption: str = ""  # the title, with the segmenter named where the spec asks for it
    column_markers: list[str] = field(default_factory=list)  # e.g. ‡ on fused-KID columns
    notes: list[str] = field(default_factory=list)  # footnotes derived from the results' metadata
    schedule_note: str = ""  # set when the schedule was picked among several (pick.py)

    @property
    def competitors(self) -> list[BuiltRow]:
        return [r for r in self.rows if not r.reference]

    @property
    def references(self) -> list[BuiltRow]:
        return [r for r in self.rows if r.reference and not r.ceiling]

    @property
    def ceilings(self) -> list[BuiltRow]:
        return [r for r in self.rows if r.ceiling]

    def column_title(self, i: int) -> str:
        return self.spec.columns[i].title + (self.column_markers[i] if self.column_markers else "")

    def filled(self) -> tuple[int, int]:
        """(reproduced cells present, cells) over the competing rows."""
        cells = [c for r in self.competitors for c in r.reproduced]
        return sum(c.present for c in cells), len(cells)
