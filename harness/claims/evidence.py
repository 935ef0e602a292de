"""A claim's evidence as plain text: one record per comparison, the same words in .md, .tex, .csv and HTML."""
from __future__ import annotations

from typing import Optional

from harness.claims import noise
from harness.claims.compare import AGREES, DISAGREES, INSIDE, MEANS, MISSING, NOISE, Comparison, Side
from harness.claims.verdict import ClaimResult

MISSING_MARK = "—"
HEADERS = ("column", "claimed", "ours", "paper", "difference", "test", "p", "p (Holm)", "reading")


def number(x: Optional[float], d: int) -> str:
    return MISSING_MARK if x is None else f"{x:.{d}f}"


def side_text(side: Side, d: int) -> str:
    """`name mean ± spread (n=k …)`: the spread is the seeds' std, else the single run's se or std."""
    cell = side.cell
    if not cell.present:
        why = " (metric unavailable)" if cell.unavailable else ""
        return f"{side.label} {MISSING_MARK}{why}"
    if cell.n >= 2:
        spread = f" ± {number(cell.std, d)}" if cell.std is not None else ""
        return f"{side.label} {number(cell.mean, d)}{spread} (n={cell.n} seeds)"
    if side.spread.se is not None:
        kind = "se" if side.spread.source.startswith("se") else "std"
        return f"{side.label} {number(cell.mean, d)} ± {number(side.spread.se, d)} {kind} (n=1)"
    return f"{side.label} {number(cell.mean, d)} (n=1)"


def _paper_cell(side: Side, d: int) -> str:
    paper = side.paper
    return number(paper.mean, d) + (f" ± {number(paper.std, d)}" if paper.present and paper.std is not None else "")


def paper_text(c: Comparison, d: int) -> str:
    if not (c.a.paper.present or c.b.paper.present):
        return MISSING_MARK
    return f"{_paper_cell(c.a, d)} vs {_paper_cell(c.b, d)}"


def relation(c: Comparison) -> str:
    if c.tie:
        return f"{c.a.label} ≈ {c.b.label}"
    return f"{c.a.label} {'<' if c.column.lower_is_better else '>'} {c.b.label}"


def test_text(c: Comparison) -> str:
    if c.missing:
        return MISSING_MARK
    if c.test == noise.WELCH:
        return f"Welch ({c.a.cell.n} vs {c.b.cell.n} seeds)"
    if c.test == noise.INDICATIVE:
        sources = sorted({s.spread.source for s in (c.a, c.b) if s.spread.se is not None})
        return f"indicative: single-run {' / '.join(sources)}"
    return "indicative: no spread recorded (means only)"


def reading_text(c: Comparison) -> str:
    state = c.state(NOISE)
    if state == MISSING:
        return "missing runs"
    if c.tie:
        return "within the noise" if state == AGREES else "distinguishable"
    if state == INSIDE:
        means = c.direction(MEANS)
        if means == INSIDE:
            return "not distinguishable"
        return f"not distinguishable (means {'agree' if means == AGREES else 'disagree'})"
    return {AGREES: "agrees", DISAGREES: "contradicts"}[state]


def records(result: ClaimResult) -> list[dict[str, str]]:
    d = result.decimals
    out = []
    for c in result.comparisons:
        diff = c.difference()
        out.append({"column": c.column.title, "claimed": relation(c),
                    "ours": f"{side_text(c.a, d)} vs {side_text(c.b, d)}", "paper": paper_text(c, d),
                    "difference": MISSING_MARK if diff is None else f"{diff:+.{d + 1}f}",
                    "test": test_text(c), "p": MISSING_MARK if c.p is None else f"{c.p:.3g}",
                    "p (Holm)": MISSING_MARK if c.p_holm is None else f"{c.p_holm:.3g}",
                    "reading": reading_text(c)})
    return out


def compact(result: ClaimResult) -> str:
    """Every comparison on one line each, for the CSV."""
    return "; ".join(f"{r['column']}: {r['ours']} [paper {r['paper']}] {r['test']}, p={r['p']}, "
                     f"Holm p={r['p (Holm)']}: {r['reading']}" for r in records(result))


def missing_text(result: ClaimResult) -> str:
    return "; ".join(m.text() for m in result.missing_runs)


def paper_verdict(result: ClaimResult) -> str:
    return MISSING_MARK if result.on_paper is None else result.on_paper.verdict
