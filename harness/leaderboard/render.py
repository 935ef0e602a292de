"""Render a built table as markdown (tabulate), LaTeX (booktabs table float) and tidy CSV.

Every table shows, per column, the paper's number, the reproduced number and their difference
(Δ = reproduced − reported). A missing number is "—", never zero; a metric that a result file
records as unavailable is "n/a" with its reason in the notes. Reference rows come last, apart.
"""
from __future__ import annotations

import io
import re
from typing import Optional

import pandas as pd
from tabulate import tabulate

from harness.leaderboard.build import BuiltRow, BuiltTable
from harness.leaderboard.stats import ALPHA, Cell

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


# ---------------------------------------------------------------- markdown
def _md_line(text: str) -> str:
    """One line of markdown text whatever the input: line breaks become spaces (a newline in a name or note
    would end a table row or start a heading), and HTML tags are shown, not interpreted."""
    return _TAG_START.sub("&lt;", " ".join(str(text).split()))


_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")  # "<script", "</x>", "<!--": shown as text; "p < 0.05" unchanged


def _md_escape(text: str) -> str:
    """Escape markdown outside `code spans` (a copied command must run: no backslashes inside them); "](" would
    make a name a link (possibly javascript:), plain brackets stay ("cyclegan [lambda=0]")."""
    parts = _md_line(text).split("`")
    for i in range(0, len(parts), 2):  # even parts are outside code spans
        parts[i] = parts[i].replace("|", "\\|").replace("*", "\\*").replace("_", "\\_").replace("](", "]\\(")
    for i in range(1, len(parts), 2):
        parts[i] = parts[i].replace("|", "\\|")  # a pipe would still end the table cell
    return "`".join(parts)


def _md_style(cell: Cell, core: str, suffix: str = "") -> str:
    text = f"**{core}**" if cell.bold else f"_{core}_" if cell.close else core
    return text + ("\\*" if cell.significant else "") + suffix


def to_markdown(table: BuiltTable, notes: bool = True, paper: bool = True) -> str:
    """`notes=False` leaves out the legend; `paper=False` the paper's and Δ sub-columns."""
    d, subs = table.spec.decimals, _subs(table, paper)
    wp = len(subs) > 1
    headers = ["method"] + [f"{_md_escape(table.column_title(i))} {s}" for i in range(len(table.spec.columns))
                            for s in subs]
    body = [[_md_escape(r.title)] + _cells(r, d, _md_style, wp) for r in table.competitors]
    for heading, rows in (("_reference rows_", table.references), ("_segmenter ceiling_", table.ceilings)):
        if rows:
            body.append([heading] + [""] * (len(headers) - 1))
            body += [[f"_{_md_escape(r.title)}_"] + _cells(r, d, _md_style, wp) for r in rows]
    grid = tabulate(body, headers=headers, tablefmt="pipe", disable_numparse=True,
                    colalign=["left"] + ["right"] * (len(headers) - 1))
    if not notes:  # the marker legend (†, ‡) stays, as one line
        marks = "; ".join(_md_escape(n) for n in legend(table) if n.startswith(("†", "‡")))
        return f"# {_md_line(table.caption)}\n\n{grid}\n" + (f"\n{marks}\n" if marks else "")
    legend_text = "\n".join(f"- {_md_escape(n)}" for n in legend(table))
    return f"# {_md_line(table.caption)}\n\n{grid}\n\n{legend_text}\n"


# ---------------------------------------------------------------- LaTeX (latex.py)
from harness.leaderboard.latex import latex_caption, public_text, tex_escape, to_latex  # noqa: E402,F401


# ---------------------------------------------------------------- CSV (tidy long form)
CSV_COLUMNS = ["table", "task", "direction", "metric", "column", "method", "results_method", "reference", "source",
               "value", "std", "std_kind", "n", "seeds", "bold", "close", "significant", "p_value", "delta",
               "unavailable", "files"]


def to_frame(table: BuiltTable) -> pd.DataFrame:
    """One row per (row, column, source ∈ {reported, reproduced}); missing values are empty, not zero."""
    records = []
    for row in table.rows:
        for i, col in enumerate(table.spec.columns):
            for source, cell in (("reported", row.reported[i]), ("reproduced", row.reproduced[i])):
                if row.reference and source == "reported":
                    continue
                records.append({
                    "table": table.spec.name, "task": col.task, "direction": col.direction, "metric": col.metric,
                    "column": col.title, "method": row.spec.method, "results_method": row.spec.source_method,
                    "reference": row.reference, "source": source, "value": cell.mean, "std": cell.std,
                    "std_kind": cell.std_kind, "n": cell.n if source == "reproduced" else None,
                    "seeds": " ".join(map(str, cell.seeds)), "bold": cell.bold, "close": cell.close,
                    "significant": cell.significant, "p_value": cell.p_value,
                    "delta": row.delta(i) if source == "reproduced" else None,
                    "unavailable": " | ".join(cell.unavailable), "files": " ".join(cell.files)})
    frame = pd.DataFrame(records, columns=CSV_COLUMNS)
    frame["n"] = frame["n"].astype("Int64")  # a count: empty for the paper's cells, never 0.0
    return frame


def to_csv(table: BuiltTable) -> str:
    buffer = io.StringIO()
    to_frame(table).to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()
