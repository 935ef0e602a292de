"""`harness list tasks|methods|schedules|metrics|segmenters`: one name per line, then a description."""
from __future__ import annotations

import argparse

from harness import registry

KINDS = {"tasks": registry.TASKS, "methods": registry.METHODS, "schedules": registry.SCHEDULES,
         "metrics": registry.METRICS, "segmenters": registry.SEGMENTERS}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list registered tasks, methods, schedules, metrics or segmenters")
    p.add_argument("kind", choices=sorted(KINDS))
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    entries = list(KINDS[args.kind].entries())
    width = max((len(e.name) for e in entries), default=0)
    for entry in entries:
        print(f"{entry.name:<{width}}  {entry.description}".rstrip())
    return 0
