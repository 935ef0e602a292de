"""`harness leaderboard`: regenerate the paper's tables (reported vs reproduced) from result files."""
from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import HarnessError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("leaderboard", help="write Tables 1-5 (markdown, LaTeX, CSV) from result files",
                       description="Reads every result.json under --results and writes <table>.md/.tex/.csv and "
                                   "README.md under --out. Tables are defined in harness/leaderboard/tables/*.yaml.")
    p.add_argument("--results", default="results", help="folder of result files (default: results)")
    p.add_argument("--out", default="leaderboards", help="output folder (default: leaderboards)")
    p.add_argument("--schedule", default=None, help="use only results of this schedule (e.g. paper, short, smoke)")
    p.add_argument("--tables", action="append", default=[], metavar="DIR",
                   help="extra folder of table definitions (*.yaml); may be repeated")
    p.add_argument("--only", nargs="+", default=[], metavar="TABLE", help="write only these tables")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from harness.leaderboard import write_leaderboards

    outcome = write_leaderboards(args.results, args.out, schedule=args.schedule,
                                 table_dirs=tuple(Path(d) for d in args.tables), only=tuple(args.only))
    for table in outcome.written:
        filled, total = table.filled()
        target = Path(args.out) / table.spec.name
        print(f"{table.spec.name}: {filled}/{total} reproduced cells -> {target}.md/.tex/.csv")
    print(f"index -> {Path(args.out) / 'README.md'}")
    if outcome.refused:
        raise HarnessError("\n".join(outcome.refused.values()))
    return 0
