"""What the terminal says about metrics that could not be computed, and how a re-evaluation keeps
what an earlier one computed.

`unavailable_lines(metrics, run_dir)`: one line per metric (directions sharing a reason grouped):
why it is missing and the command that fixes it; `harness evaluate` prints them after each run
folder. `runs_unavailable_lines(run_dirs)` groups them over runs for the end of `harness run`.

`merge_metrics(old, new)`: a re-evaluation never replaces a computed entry with an unavailable
one (e.g. a wrong `--inception-weights` must not erase a KID of 78.04): the old entry is kept and
listed under `kept_from_previous_evaluation` with the reason it could not be recomputed.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

FIX_MARKERS = ("; fix: ", " Fix: ", "; Fix: ", " fix: ")


def split_reason(reason: str) -> tuple[str, Optional[str]]:
    """(why, fix) from an unavailable entry's reason; fix is None when the reason names none."""
    for marker in FIX_MARKERS:
        if marker in reason:
            why, fix = reason.split(marker, 1)
            return why.rstrip(" .;"), fix.strip()
    return reason, None


def unavailable_lines(metrics: dict[str, Any], run_dir: Optional[str | Path] = None) -> list[str]:
    """One line per metric that is not `ok` in `metrics` (a result's metrics section)."""
    where = f"{run_dir}: " if run_dir is not None else ""
    again = f"`harness evaluate {run_dir}`" if run_dir is not None else "`harness evaluate RUN_DIR`"
    directions = metrics.get("directions") or {}
    if not directions and metrics.get("status") != "evaluated":
        return [f"{where}no metrics: {metrics.get('reason', 'not evaluated')}; fix: run {again}"]
    grouped: dict[tuple[str, str], list[str]] = {}
    for direction, entries in directions.items():
        for key, entry in entries.items():
            if entry.get("status") != "ok":
                grouped.setdefault((key, entry.get("reason", "no reason recorded")), []).append(direction)
    lines = []
    for (key, reason), dirs in grouped.items():
        why, fix = split_reason(reason)
        fix = fix or f"address the reason, then run {again}"
        lines.append(f"{where}{key} ({', '.join(dirs)}) not computed: {why}. Fix: {fix}")
    return lines


def runs_unavailable_lines(run_dirs: list[str | Path]) -> list[str]:
    """One line per metric missing from the finished runs' result.json files, runs that share the
    reason grouped (a 15-method demo without Inception weights gives 4 lines, not 60)."""
    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    for run_dir in run_dirs:
        path = Path(run_dir) / "result.json"
        if not path.is_file():
            continue
        metrics = json.loads(path.read_text()).get("metrics") or {}
        for direction, entries in (metrics.get("directions") or {}).items():
            for key, entry in entries.items():
                if entry.get("status") != "ok":
                    group = grouped.setdefault((key, entry.get("reason", "no reason recorded")),
                                               {"runs": [], "dirs": []})
                    if str(run_dir) not in group["runs"]:
                        group["runs"].append(str(run_dir))
                    if direction not in group["dirs"]:
                        group["dirs"].append(direction)
    lines = []
    for (key, reason), group in grouped.items():
        why, fix = split_reason(reason)
        runs = group["runs"][0] if len(group["runs"]) == 1 else f"{len(group['runs'])} runs"
        fix = fix or "address the reason, then run `harness evaluate RUN_DIR`"
        lines.append(f"{key} ({', '.join(group['dirs'])}) not computed in {runs}: {why}. Fix: {fix}")
    return lines


def count_ok(metrics: dict[str, Any]) -> int:
    return sum(e.get("status") == "ok" for d in (metrics.get("directions") or {}).values() for e in d.values())


def merge_metrics(old: Optional[dict[str, Any]], new: dict[str, Any]) -> dict[str, Any]:
    """`new`, except that an entry `new` could not compute keeps `old`'s computed entry."""
    from harness.evaluation import _status
    old_dirs = (old or {}).get("directions") or {}
    kept = []
    merged_dirs: dict[str, dict[str, Any]] = {}
    for direction, entries in new["directions"].items():
        merged = dict(entries)
        for key, entry in entries.items():
            previous = old_dirs.get(direction, {}).get(key)
            if entry.get("status") != "ok" and previous and previous.get("status") == "ok":
                merged[key] = previous
                kept.append({"direction": direction, "metric": key, "evaluated_at": (old or {}).get("evaluated_at"),
                             "not_recomputed_because": entry.get("reason")})
        for key, previous in old_dirs.get(direction, {}).items():  # metrics not asked for this time
            if key not in merged and previous.get("status") == "ok":
                merged[key] = previous
        merged_dirs[direction] = merged
    out = {**new, "directions": merged_dirs, "status": _status(merged_dirs)}
    if old and old.get("ceilings"):
        out["ceilings"] = {**old["ceilings"], **new.get("ceilings", {})}
    if kept:
        out["kept_from_previous_evaluation"] = kept
    if out["status"] == "evaluated":
        out.pop("reason", None)
    else:
        reasons = sorted({e["reason"] for d in merged_dirs.values() for e in d.values() if e.get("status") != "ok"})
        out["reason"] = "; ".join(reasons) if reasons else out.get("reason", "the task names no metrics")
    return out
