"""A claims check as plain data for the report's claims page (templates/claims.html in harness.report)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from harness.claims.evaluate import evaluate_claims
from harness.claims.evidence import HEADERS, MISSING_MARK, paper_verdict, records
from harness.claims.render import legend
from harness.claims.verdict import ClaimResult
from harness.errors import HarnessError


def claim_view(r: ClaimResult) -> dict[str, Any]:
    rows = records(r)
    headers = [h for h in HEADERS if h != "paper" or any(x["paper"] != MISSING_MARK for x in rows)]
    return {"id": r.claim.id, "set": r.claim_set.title, "words": r.claim.words, "source": r.claim.source,
            "form": r.claim.form, "table": r.claim.table, "schedule": r.schedule, "verdict": r.verdict,
            "verdict_text": r.verdict_text, "css": r.verdict.replace(" ", "-"), "reason": r.reason,
            "by_means": r.by_means.verdict if r.by_means else "", "robust": r.robustness, "tests": r.tests_text,
            "paper": paper_verdict(r), "missing": [m.text() for m in r.missing_runs],
            "notes": ([r.claim.note] if r.claim.note and r.claim.form != "qualitative" else []) + r.notes,
            "headers": headers, "rows": [[x[h] for h in headers] for x in rows]}


def claims_context(results: str | Path, schedule: Optional[str] = None,
                   table_dirs: tuple[Path, ...] = ()) -> dict[str, Any]:
    """What claims.html shows; a claim file that cannot be checked is reported on the page, not raised."""
    try:
        checked = evaluate_claims(results, schedule=schedule, table_dirs=table_dirs)
    except HarnessError as exc:
        return {"claims": [], "claims_error": str(exc), "claims_legend": []}
    alphas = {r.claim_set.alpha for r in checked}
    return {"claims": [claim_view(r) for r in checked], "claims_error": "",
            # the markdown legend without its markup (the page sets the words apart itself)
            "claims_legend": [line.replace("**", "").replace("*", "").replace("`", "")
                              for line in legend(Path(results).as_posix(), alphas)[1:]]}
