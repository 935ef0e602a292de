"""A built table as LaTeX: a booktabs table* float for a paper.

- Text is escaped so that it prints as written: `--` stays two hyphens (not an en dash), a backtick
  stays a backtick (not an opening quote); unicode symbols become their LaTeX commands.
- A table without the paper's columns has one header row (no "ours" sub-header).
- A wide table (wider than `PANEL_CHARS` characters, estimated from its titles and cells) is split into
  stacked panels that share the method column, rather than shrunk to an unreadable size; what is left
  to shrink is little enough that the \footnotesize notes are never larger than the numbers.
- Notes are set in \\footnotesize below the table and name files and environment variables, never a
  local path or a URL; with `notes=False` the † / ‡ legend is kept as one line.
"""
from __future__ import annotations

import re

from harness.leaderboard.cells import _cells, _subs, legend, unavailable_notes
from harness.leaderboard.table import BuiltRow, BuiltTable
from harness.leaderboard.stats import Cell

PANEL_CHARS = 140  # estimated characters per panel row: a two-column paper's \textwidth at about 75 %

_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                "`": r"\textasciigrave{}",
                "→": r"$\rightarrow$", "←": r"$\leftarrow$", "±": r"$\pm$", "×": r"$\times$", "—": "---",
                "–": "--", "Δ": r"$\Delta$", "−": "$-$", "≥": r"$\geq$", "≤": r"$\leq$",
                "<": r"$<$", ">": r"$>$",
                "’": "'", "“": "``", "”": "''", "†": r"$^{\dagger}$", "‡": r"$^{\ddagger}$", "…": r"\ldots{}",
                # `\\[` after a row's end would read a name's "[" as the spacing argument of \\
                "[": "{[}", "]": "{]}", "\n": " ", "\r": " ", "\t": " "}
_URL = re.compile(r"https?://[^\s;,()]*?([^/\s;,()]+)(?=[\s;,()]|$)")
_PATH = re.compile(r"(?<![\w.$])(?:~|\.{1,2})?/(?:[\w.\-~+]+/)+([\w.\-~+]+)")


def tex_escape(text: str) -> str:
    """Plain text → LaTeX that pdflatex compiles without unicode packages (unknown non-ASCII becomes '?')."""
    out = []
    previous = ""
    for ch in str(text):
        if ch == "-" and previous == "-":
            out.append("{}-")  # "--" would print as an en dash
        elif ch in _TEX_SPECIAL:
            out.append(_TEX_SPECIAL[ch])
        elif ord(ch) < 128:
            out.append(ch)
        else:
            out.append("?")
        previous = ch
    return "".join(out)


def public_text(text: str) -> str:
    """A note fit for a paper: URLs and local paths replaced by the name of the file they point to."""
    return _PATH.sub(lambda m: m.group(1), _URL.sub(lambda m: m.group(1), text))


def latex_caption(caption: str) -> str:
    """LaTeX numbers its tables itself: "Table 2: x" would print as "Table 1: Table 2: x"."""
    return re.sub(r"^Table\s+\d+\s*:\s*", "", caption)


def _tex_core(core: str) -> str:
    return "$" + core.replace(" ± ", r" \pm ") + "$"


def _tex_style(cell: Cell, core: str, suffix: str = "") -> str:
    math = _tex_core(core)
    text = r"\textbf{\boldmath" + math + "}" if cell.bold else r"\underline{" + math + "}" if cell.close else math
    if cell.significant:
        text += "$^{*}$"
    if suffix:
        text += r" {\scriptsize (" + suffix.strip(" ()").replace("n=", "$n{=}") + "$)}"
    return text


def _tex_cells(row: BuiltRow, d: int, with_paper: bool) -> list[str]:
    out = []
    for text in _cells(row, d, _tex_style, with_paper):
        if text.startswith(("$", "\\")):
            out.append(text)  # already LaTeX
        elif text[:1] in "+-" and text[1:2].isdigit():
            out.append(f"${text}$")  # a signed Δ: a real minus sign
        else:
            out.append(tex_escape(text))
    return out


def _notes(table: BuiltTable, notes: bool) -> list[str]:
    """The legend, fit for a paper: n/a reasons without paths or URLs (why only; the .md notes give the
    fix); with notes=False only the marker legend (†, ‡)."""
    from harness.evaluation.report import split_reason
    hidden = set(unavailable_notes(table))
    out = [n for n in legend(table) if n not in hidden]
    if not notes:
        return ["; ".join(n for n in out if n.startswith(("†", "‡")))] if any(
            n.startswith(("†", "‡")) for n in out) else []
    reasons: dict[str, set[str]] = {}
    for row in table.rows:
        for cell in row.reproduced:
            for text in cell.unavailable:
                file, _, reason = text.partition(": ")
                reasons.setdefault(split_reason(reason or file)[0], set()).add(file)
    out += [f"n/a in {len(files)} result file(s): {why}." for why, files in reasons.items()]
    return [public_text(n) for n in out]


def _panel(table: BuiltTable, columns: list[int], subs: tuple[str, ...]) -> list[str]:
    k, d, wp = len(subs), table.spec.decimals, len(subs) > 1
    n, width = len(columns), 1 + len(subs) * len(columns)
    heads = [tex_escape(table.column_title(i)) for i in columns]

    def cells(row: BuiltRow) -> list[str]:
        every = _tex_cells(row, d, wp)
        return [c for i in columns for c in every[i * k:(i + 1) * k]]

    lines = [r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",  # shrink only, never enlarge
             rf"\begin{{tabular}}{{l*{{{n}}}{{{'r' * k}}}}}", r"\toprule"]
    if wp:
        groups = " & ".join(rf"\multicolumn{{{k}}}{{c}}{{{h}}}" for h in heads)
        rules = " ".join(rf"\cmidrule(lr){{{2 + k * i}-{1 + k * (i + 1)}}}" for i in range(n))
        lines += [rf" & {groups} \\", rules, rf"Method & {' & '.join([tex_escape(s) for s in subs] * n)} \\"]
    else:  # only reproduced numbers: one header row
        lines += [rf"Method & {' & '.join(heads)} \\"]
    lines += [r"\midrule"]
    lines += [" & ".join([tex_escape(r.title)] + cells(r)) + r" \\" for r in table.competitors]
    for heading, rows in (("Reference rows", table.references), ("Segmenter ceiling", table.ceilings)):
        if rows:
            lines += [r"\midrule", rf"\multicolumn{{{width}}}{{l}}{{\textit{{{heading}}}}} \\"]
            lines += [" & ".join([rf"\textit{{{tex_escape(r.title)}}}"] + cells(r)) + r" \\" for r in rows]
    return lines + [r"\bottomrule", r"\end{tabular}}"]


def _column_chars(table: BuiltTable, subs: tuple[str, ...]) -> list[int]:
    """Estimated printed width (characters, with padding) of each column group: its title or its
    widest cells, whichever is wider."""
    k, d = len(subs), table.spec.decimals
    plain = [_cells(r, d, lambda cell, core, suffix="": core + suffix, k > 1) for r in table.rows]
    out = []
    for i in range(len(table.spec.columns)):
        cells = sum(max([len(subs[j])] + [len(row[i * k + j]) for row in plain]) for j in range(k))
        out.append(max(len(table.column_title(i)), cells) + 2 * k)
    return out


def to_latex(table: BuiltTable, notes: bool = True, paper: bool = True) -> str:
    """A booktabs table* float; wide tables as stacked panels, each shrunk to the text width only when
    still wider (never enlarged). `notes=False` keeps only the marker legend; `paper=False` leaves out
    the paper's and Δ sub-columns."""
    subs = _subs(table, paper)
    widths = _column_chars(table, subs)
    method = max([6] + [len(r.title) for r in table.rows])
    for count in range(1, len(widths) + 1):  # the fewest panels whose rows fit PANEL_CHARS
        per_panel = -(-len(widths) // count)
        panels = [list(range(i, min(i + per_panel, len(widths)))) for i in range(0, len(widths), per_panel)]
        if max(method + sum(widths[i] for i in p) for p in panels) <= PANEL_CHARS:
            break
    lines = ["% Generated by `harness leaderboard` from result files; do not edit by hand.",
             r"% Needs \usepackage{booktabs} and \usepackage{graphicx} in the preamble.",
             r"\begin{table*}[t]", r"\centering", rf"\caption{{{tex_escape(latex_caption(table.caption))}}}",
             rf"\label{{tab:{tex_escape(table.spec.name)}}}"]
    for p, columns in enumerate(panels):
        if p:
            lines += [r"\par\medskip"]
        lines += _panel(table, columns, subs)
    shown = _notes(table, notes)
    if shown:
        lines += [r"\par\smallskip", r"\begin{minipage}{\textwidth}\footnotesize"]
        lines += [tex_escape(note) + r"\par" for note in shown]
        lines += [r"\end{minipage}"]
    lines += [r"\end{table*}"]
    return "\n".join(lines) + "\n"
