"""`harness data verify --task T`: check a task's data against its manifest; print counts and digests."""
from __future__ import annotations

import argparse

from harness.registry import TASKS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="data tools: verify")
    verbs = p.add_subparsers(dest="data_command", required=True, metavar="VERB")
    v = verbs.add_parser("verify", help="hash a task's data and compare with its expected manifest digest")
    v.add_argument("--task", required=True)
    v.add_argument("--data-root", default=None)
    v.set_defaults(handler=handle_verify)


def handle_verify(args: argparse.Namespace) -> int:
    from harness.data.prepare import prepare_data
    task = TASKS.get(args.task, where="--task")
    prepared = prepare_data(task, args.data_root)
    m, split = prepared.manifest, prepared.split
    print(f"task            {task.name}")
    print(f"root            {prepared.root}")
    print(f"files           {m.n_files} ({m.total_bytes:,} bytes)")
    for folder, n in m.counts.items():
        print(f"  {folder:<14}{n}")
    print(f"split           {split.rule}")
    for name, n in split.counts().items():
        print(f"  {name:<14}{n}")
    print(f"split digest    {split.digest}")
    print(f"manifest digest {m.digest}")
    expected = task.source.manifest_digest
    if expected is None:
        print("expected        (none recorded for this task; record the digest above once verified)")
        return 0
    if expected != m.digest:
        print(f"expected        {expected}")
        print("MISMATCH: the data differs from the release this task expects")
        return 1
    print("verified        the manifest digest matches the expected release")
    return 0
