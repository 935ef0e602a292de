"""Claims: a paper's conclusions checked against result files, each with a verdict and its evidence.

Claims are data (`paper/*.yaml`, or a user's folder with `harness claims --claims DIR`): the paper's
words, their source, and a form over the cells of a leaderboard table (spec.py). `evaluate_claims`
builds those tables as `harness leaderboard` does (collection, protocol guard, schedule choice),
makes the claim's comparisons (compare.py), tests each against the noise (noise.py: Welch over
seeds, else an indicative test on single-run standard errors; Holm across one claim's comparisons)
and reads the verdict (verdict.py): holds, refuted or not determined, naming the missing runs.
`write_claims` writes claims.md, .tex and .csv (render.py).
"""
from __future__ import annotations

from harness.claims.evaluate import evaluate_claims
from harness.claims.verdict import HOLDS, REFUTED, UNDETERMINED, ClaimResult

__all__ = ["evaluate_claims", "ClaimResult", "HOLDS", "REFUTED", "UNDETERMINED"]
