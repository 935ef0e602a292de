"""A built leaderboard table as plain data for the HTML templates (the same cells, marks and notes
as the markdown and LaTeX files: cells.py decides what a cell says, this only says it in HTML)."""
from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

from harness.leaderboard import cells as cell_text
from harness.leaderboard.table import BuiltRow, BuiltTable
from harness.leaderboard.stats import Cell


def _html_style(cell: Cell, core: str, suffix: str = "") -> str:
    text = str(escape(core))
    if cell.bold:
        text = f"<strong>{text}</strong>"
    elif cell.close:
        text = f'<span class="close">{text}</span>'
    if cell.significant:
        text += '<sup title="significant: Welch p &lt; 0.05 over seeds">*</sup>'
    return text + (f'<span class="n">{escape(suffix)}</span>' if suffix else "")


def _row(row: BuiltRow, decimals: int, paper: bool, kind: str) -> dict[str, Any]:
    cells = []
    for text in cell_text._cells(row, decimals, _html_style, paper):
        # styled cells are already escaped markup; the rest ("—", "n/a", a Δ) is plain text
        cells.append(Markup(text) if "<" in text else escape(text))
    return {"title": row.title, "kind": kind, "cells": cells}


def table_view(table: BuiltTable, paper: bool = True) -> dict[str, Any]:
    subs = cell_text._subs(table, paper)
    with_paper = len(subs) > 1
    d = table.spec.decimals
    body = [_row(r, d, with_paper, "competitor") for r in table.competitors]
    groups = []
    for heading, rows, kind in (("reference rows", table.references, "reference"),
                                ("segmenter ceiling", table.ceilings, "ceiling")):
        if rows:
            groups.append({"heading": heading, "rows": [_row(r, d, with_paper, kind) for r in rows]})
    filled, total = table.filled()
    return {"name": table.spec.name, "caption": table.caption, "columns": [table.column_title(i) for i in
                                                                             range(len(table.spec.columns))],
            "subs": list(subs), "body": body, "groups": groups, "notes": cell_text.legend(table),
            "filled": filled, "total": total, "schedules": table.schedules, "width": 1 + len(subs) * len(
                table.spec.columns)}
