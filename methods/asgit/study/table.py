"""Print the ASGIT attention study's tables (Markdown) from its result files.

Usage: python -m methods.asgit.study.table [results folder] [schedule]
Two tables over the runs of the schedule on horse2zebra: the probes (influence, specificity,
random-map response, each beside the control generator's and as a ratio to it) and the map
structure (spread, border/interior ratio, framed share, pairwise and train-mode correlations).
Values are grey levels (/255), "H→Z / Z→H" per cell.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

DIRECTIONS = ("A2B", "B2A")
MIN_MOVE = 0.1  # grey levels; a smaller control response gives no ratio
PROBES = ("influence", "specificity", "random_map")


def _fmt(value: Optional[float], digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _pair(per: dict, key: str, digits: int = 2) -> str:
    return " / ".join(_fmt(per.get(d, {}).get(key), digits) for d in DIRECTIONS)


def _ratio(d: dict, key: str) -> Optional[float]:
    own, control = d.get(f"{key}_255"), d.get(f"control_{key}_255")
    # below a tenth of a grey level the control does not move: a ratio of roundings says nothing
    return own / control if own is not None and control is not None and control >= MIN_MOVE else None


def _label(result: dict[str, Any]) -> str:
    overrides = {k: v for k, v in result["config"].get("overrides", {}).items() if k not in ("ngf", "ndf", "n_blocks")}
    extra = ", ".join(f"{k}={v}" for k, v in overrides.items())
    return result["method"] + (f" [{extra}]" if extra else "")


def load(results: Path, schedule: str) -> list[tuple[str, str, dict]]:
    out = []
    for path in sorted(results.glob(f"horse2zebra/*/{schedule}-seed*/result.json")):
        r = json.loads(path.read_text())
        if "specificity_255" in (r.get("diagnostics") or {}):
            out.append((_label(r), path.parent.name, r["diagnostics"]))
    return out


def probe_table(runs: list[tuple[str, str, dict]]) -> list[str]:
    head = ["run", "control"] + [f"{p} model" for p in PROBES] + [f"{p} control" for p in PROBES] + \
        [f"{p} ratio (mean)" for p in PROBES]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, run_id, d in runs:
        per = d["directions"]
        cells = [f"{label} `{run_id[-8:]}`", d["control"]["kind"]]
        cells += [_pair(per, f"{p}_255") for p in PROBES] + [_pair(per, f"control_{p}_255") for p in PROBES]
        cells += [_fmt(_ratio(d, p)) for p in PROBES]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


STRUCTURE = (("test_map_spread", "test-map spread"), ("border_interior_ratio", "border/interior"),
             ("framed_share", "share > 1.5"), ("pairwise_correlation", "pairwise corr."),
             ("train_mode_correlation", "test vs train-mode corr."))


def structure_table(runs: list[tuple[str, str, dict]]) -> list[str]:
    head = ["run"] + [name for _, name in STRUCTURE] + ["read-hit share"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, run_id, d in runs:
        cells = [f"{label} `{run_id[-8:]}`"] + [_pair(d["directions"], key) for key, _ in STRUCTURE]
        cells.append(_fmt(d.get("read_hit_share"), 3))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("results")
    found = load(root, sys.argv[2] if len(sys.argv) > 2 else "asgit-cpu")
    print("\n".join(probe_table(found) + [""] + structure_table(found)))
