"""Print the ASGIT study's table (Markdown) from its result files.

Usage: python -m methods.asgit.study.table [results folder] [schedule]
One row per run of the schedule on horse2zebra: what it ran (the config fields that differ between
rows), its attention diagnostics, and its metrics' status (KID needs Inception weights).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

FIELDS = ("transfer_block", "attn_norm", "memory_frame", "test_placeholder", "lambda_identity", "norm", "gan_loss")


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def rows(results: Path, schedule: str) -> list[str]:
    out = ["| method | run | " + " | ".join(FIELDS) + " | written spread | stored spread | test-map spread "
           "| read-hit share | influence (/255) H→Z, Z→H | steps | wall s | KID |",
           "|" + "---|" * (len(FIELDS) + 10)]
    for path in sorted(results.glob(f"horse2zebra/*/{schedule}-seed*/result.json")):
        r = json.loads(path.read_text())
        config = r["config"]["method"]
        d = r.get("diagnostics", {})
        per = d.get("directions", {})
        influence = ", ".join(_fmt(per[k]["influence_255"], 2) for k in ("A2B", "B2A") if k in per) or "—"
        kid = r["metrics"].get("directions", {}).get("A2B", {}).get("target_kid_x100", {})
        out.append(f"| {r['method']} | {path.parent.name} | " + " | ".join(_fmt(config.get(f, "—")) for f in FIELDS)
                   + f" | {_fmt(d.get('written_map_spread'))} | {_fmt(d.get('stored_map_spread'))} "
                   f"| {_fmt(d.get('test_map_spread'))} | {_fmt(d.get('read_hit_share'))} | {influence} "
                   f"| {r['run']['steps']} | {r['run']['wall_time_s']:.0f} | {kid.get('status', kid.get('value', '—'))} |")
    return out


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("results")
    print("\n".join(rows(root, sys.argv[2] if len(sys.argv) > 2 else "asgit-cpu")))
