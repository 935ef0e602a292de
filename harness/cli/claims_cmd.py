"""`harness claims`: check a paper's conclusions against the result files (holds / refuted / not determined)."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("claims", help="check the paper's (and the demo's) claims against result files",
                       description="Reads every result.json under --results, builds the leaderboard tables the "
                                   "claims point at (the same protocol guard and schedule choice as `harness "
                                   "leaderboard`) and writes claims.md, claims.tex and claims.csv under --out: per "
                                   "claim its verdict (holds, refuted, not determined naming the missing runs), the "
                                   "cells and tests behind it (Welch over seeds, else indicative; Holm per claim) "
                                   "and whether it is robust. Claims are defined in harness/claims/paper/*.yaml.")
    p.add_argument("--results", default="results", help="folder of result files (default: results)")
    p.add_argument("--out", default="leaderboards", help="folder for claims.md/.tex/.csv (default: leaderboards)")
    p.add_argument("--schedule", default=None,
                   help="check every claim on results of this schedule (default: each claim file's own, e.g. "
                        "paper for the paper's claims, demo for the demo's)")
    p.add_argument("--claims", action="append", default=[], metavar="DIR",
                   help="extra folder of claim files (*.yaml); may be repeated")
    p.add_argument("--tables", action="append", default=[], metavar="DIR",
                   help="extra folder of table definitions (*.yaml) the claims may point at; may be repeated")
    p.add_argument("--only", nargs="+", default=[], metavar="NAME",
                   help="only these claim files (by name, e.g. demo) or claim ids")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from harness.claims import evaluate_claims
    from harness.claims.render import summary_markdown, write_claims

    results = evaluate_claims(args.results, schedule=args.schedule, claim_dirs=tuple(Path(d) for d in args.claims),
                              table_dirs=tuple(Path(d) for d in args.tables), only=tuple(args.only))
    paths = write_claims(results, args.out, Path(args.results).as_posix())
    print(summary_markdown(results, brief=True))
    counts = {v: sum(r.verdict == v for r in results) for v in ("holds", "refuted", "not determined")}
    print(f"\n{len(results)} claims: " + ", ".join(f"{n} {v}" for v, n in counts.items())
          + f" -> {', '.join(p.as_posix() for p in paths)}")
    return 0
