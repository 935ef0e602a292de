"""Render a built table as markdown (tabulate), LaTeX (booktabs table float) and tidy CSV.

Every table shows, per column, the paper's number, the reproduced number and their difference
(Δ = reproduced − reported). A missing number is "—", never zero; a metric that a result file
records as unavailable is "n/a" with its reason in the notes. Reference rows come last, apart.
"""
from __future__ import annotations

import io
import re

import pandas as pd
from tabulate import tabulate

from harness.leaderboard.cells import _cells, _subs, legend
from harness.leaderboard.table import BuiltTable
from harness.leaderboard.stats import Cell


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
