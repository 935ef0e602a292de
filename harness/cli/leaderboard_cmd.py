"""`harness leaderboard`: regenerate the paper's tables (reported vs reproduced) from result files."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.errors import HarnessError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("leaderboard", help="write Tables 1-5 (markdown, LaTeX, CSV) from result files",
                       description="Reads every result.json under --results and writes <table>.md/.tex/.csv and "
                                   "README.md under --out (the whole set replaced at once). Tables are defined in "
                                   "harness/leaderboard/tables/*.yaml. Without --schedule each table shows the most "
                                   "complete schedule found. A table that would mix protocols is not rebuilt (its "
                                   "previous files stay); that is an error only for tables named with --only.")
    p.add_argument("--results", default="results", help="folder of result files (default: results)")
    p.add_argument("--out", default="leaderboards", help="output folder (default: leaderboards)")
    p.add_argument("--schedule", default=None,
                   help="use only results of this schedule (e.g. paper, short, smoke); default: per table, the "
                        "schedule with the most reproduced cells")
    p.add_argument("--tables", action="append", default=[], metavar="DIR",
                   help="extra folder of table definitions (*.yaml); may be repeated")
    p.add_argument("--only", nargs="+", default=[], metavar="TABLE", help="write only these tables")
    p.add_argument("--no-notes", action="store_true",
                   help="leave the notes out of the .md and .tex tables (the † / ‡ legend stays, as one line)")
    p.add_argument("--ids", action="store_true",
                   help="name rows by registry id (cyclegan) instead of as the paper prints them (CycleGAN)")
    p.add_argument("--no-paper", action="store_true",
                   help="leave the paper's numbers and Δ out of the .md and .tex tables (only reproduced numbers)")
    p.add_argument("--show-se", action="store_true",
                   help="after ± show each single run's standard error (se) instead of the paper-convention std")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from harness.leaderboard import RenderOptions, write_leaderboards

    only = tuple(args.only)
    outcome = write_leaderboards(args.results, args.out, schedule=args.schedule,
                                 table_dirs=tuple(Path(d) for d in args.tables), only=only,
                                 options=RenderOptions(notes=not args.no_notes, paper=not args.no_paper,
                                                       ids=args.ids, show_se=args.show_se))
    for table in outcome.written:
        filled, total = table.filled()
        target = Path(args.out) / table.spec.name
        shown = f" (schedule {', '.join(table.schedules)})" if table.schedule_note else ""
        print(f"{table.spec.name}: {filled}/{total} reproduced cells{shown} -> {target}.md/.tex/.csv")
    for name in outcome.refused:
        kept = "its previous files are kept" if name in outcome.kept else "no previous files"
        print(f"{name}: refused, mixed protocols ({kept}; why: {Path(args.out) / 'README.md'})", file=sys.stderr)
    print(f"index -> {Path(args.out) / 'README.md'}")
    failed = outcome.failed(only)
    if failed:
        raise HarnessError("\n".join(failed.values()))
    return 0
