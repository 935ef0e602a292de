"""`harness list [tasks|methods|schedules|metrics|segmenters]`: one name per line, then a description;
without a kind, every kind under its heading."""
from __future__ import annotations

import argparse

from harness import registry

KINDS = {"tasks": registry.TASKS, "methods": registry.METHODS, "schedules": registry.SCHEDULES,
         "metrics": registry.METRICS, "segmenters": registry.SEGMENTERS}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list registered tasks, methods, schedules, metrics and segmenters")
    p.add_argument("kind", nargs="?", choices=sorted(KINDS), help="only this kind (default: everything)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    kinds = [args.kind] if args.kind else list(KINDS)
    for i, kind in enumerate(kinds):
        entries = list(KINDS[kind].entries())
        if len(kinds) > 1:
            print(("\n" if i else "") + f"{kind}:")
        width = max((len(e.name) for e in entries), default=0)
        for entry in entries:
            print(f"{'  ' if len(kinds) > 1 else ''}{entry.name:<{width}}  {entry.description}".rstrip())
    return 0
