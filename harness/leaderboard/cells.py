"""The text of a table's cells and notes, shared by its markdown, LaTeX and CSV forms (render.py, latex.py).

A missing number is "—", never zero; a metric that a result file records as unavailable is "n/a" with its
reason in the notes; Δ = reproduced − reported.
"""
from __future__ import annotations

from typing import Optional

from harness.leaderboard.stats import ALPHA, Cell
from harness.leaderboard.table import BuiltRow, BuiltTable

MISSING = "—"
UNAVAILABLE = "n/a"
SUB = ("paper", "ours", "Δ")


def _number(x: float, d: int) -> str:
    return f"{x:.{d}f}"


def _core(cell: Cell, d: int) -> str:
    return _number(cell.mean, d) if cell.std is None else f"{_number(cell.mean, d)} ± {_number(cell.std, d)}"


def _delta(x: Optional[float], d: int) -> str:
    if x is None:
        return MISSING
    text = f"{x:+.{d}f}"
    return "+" + text[1:] if float(text) == 0 else text  # no "-0.00"


def legend(table: BuiltTable) -> list[str]:
    """The notes under a table: how to read it, where its numbers come from, its footnotes."""
    spec = table.spec
    if table.files:
        origin = (f"Reproduced: {len(table.files)} result file(s), schedule {', '.join(table.schedules)}; "
                  f"metric protocol {', '.join(table.protocols) or 'none recorded'}.")
    else:
        origin = "Reproduced: no result files match this table yet."
    what = ("paper = the paper's printed number; ours = reproduced; Δ = ours − paper. "
            if spec.paper_table is not None else "")
    notes = [origin,
             what + "— = no run (or not evaluated yet); n/a = the run could not compute the metric (reason below).",
             "± is the std over seeds when (n=k) is shown, else the single run's own spread as its result records "
             "it (KID: std over subsets, as the paper prints, or a bootstrap over images).",
             f"Bold: best in its column (ties at the shown precision all bold); underlined/italic: not "
             f"distinguishable from the best (Welch p ≥ {ALPHA} with ≥2 seeds each, "
             "else overlapping ± intervals); "
             f"*: the best differs from the runner-up by Welch's t-test over seeds, p < {ALPHA}. "
             "Reference rows do not compete."]
    if table.not_evaluated:
        shown = ", ".join(table.not_evaluated[:3]) + (" …" if len(table.not_evaluated) > 3 else "")
        notes.append(f"{len(table.not_evaluated)} result file(s) have no metrics yet (not evaluated): {shown}")
    if table.excluded_overrides:
        notes.append(f"{table.excluded_overrides} result(s) run with --set overrides are left out.")
    notes += list(spec.footnotes) + list(table.notes)
    return list(dict.fromkeys(notes + unavailable_notes(table)))


def unavailable_notes(table: BuiltTable) -> list[str]:
    """One note per distinct reason (a missing weights file makes every run say the same thing)."""
    by_reason: dict[str, list[str]] = {}
    for row in table.rows:
        for cell in row.reproduced:
            for text in cell.unavailable:
                file, _, reason = text.partition(": ")
                by_reason.setdefault(reason or file, []).append(file)
    notes = []
    for reason, files in by_reason.items():
        files = sorted(set(files))
        if len(files) == 1:
            notes.append(f"n/a: {files[0]}: {reason}")
        else:
            notes.append(f"n/a in {len(files)} result files ({', '.join(files[:2])}{' …' if len(files) > 2 else ''}): "
                         f"{reason}")
    return notes


def _ours_text(cell: Cell, d: int) -> str:
    if not cell.present:
        return UNAVAILABLE if cell.unavailable or cell.test_only else MISSING
    return _core(cell, d) + (f" (n={cell.n})" if cell.std_kind == "seeds" else "")


def _subs(table: BuiltTable, paper: bool = True) -> tuple[str, ...]:
    """Sub-columns per column: paper, ours, Δ, or only ours (a table the paper does not have, or paper=False)."""
    return SUB if paper and table.spec.paper_table is not None else ("ours",)


def _cells(row: BuiltRow, d: int, style, with_paper: bool = True) -> list[str]:
    out = []
    for i in range(len(row.reported)):
        rep, ours = row.reported[i], row.reproduced[i]
        if with_paper:
            out.append(style(rep, _core(rep, d)) if rep.present else MISSING)
        if ours.present:
            suffix = f" (n={ours.n})" if ours.std_kind == "seeds" else ""
            out.append(style(ours, _core(ours, d), suffix))
        else:
            out.append(_ours_text(ours, d))
        if with_paper:
            out.append(_delta(row.delta(i), d))
    return out
