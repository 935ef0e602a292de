"""`harness report`: a static HTML site (tables, per-task figures, per-run pages) from result files."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write a browsable HTML report (tables, figures, runs) from result files",
                       description="Reads every result.json under --results (and the files its run folder holds: "
                                   "losses, samples, snapshots, translations) and writes a static site to --out: "
                                   "index.html with every leaderboard table, a page per task and per run. Links "
                                   "are relative; copy or serve the folder anywhere.")
    p.add_argument("--results", default="results", help="folder of result files (default: results)")
    p.add_argument("--out", default="report", help="output folder, replaced as a whole (default: report)")
    p.add_argument("--schedule", default=None,
                   help="tables from this schedule only (default: per table, the most complete schedule)")
    p.add_argument("--tables", action="append", default=[], metavar="DIR",
                   help="extra folder of table definitions (*.yaml); may be repeated")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from harness.report import write_report

    index = write_report(args.results, args.out, schedule=args.schedule,
                         table_dirs=tuple(Path(d) for d in args.tables))
    print(f"report -> {index}")
    return 0
