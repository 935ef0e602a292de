"""What the terminal says about metrics that could not be computed, and how a re-evaluation keeps
what an earlier one computed.

`unavailable_lines(metrics, run_dir)`: one line per distinct reason (the metrics and directions it
stopped grouped): why they are missing and the fix, worded for the command that prints it;
`harness evaluate` prints them after each run folder. `runs_unavailable_lines(run_dirs)` groups them
over runs for the end of `harness run`.

`merge_metrics(old, new)`: a re-evaluation never replaces a computed entry with an unavailable
one (e.g. a wrong `--inception-weights` must not erase a KID of 78.04): the old entry is kept and
listed under `kept_from_previous_evaluation` with the reason it could not be recomputed.
"""
from __future__ import annotations

import json
import re
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


def fix_for_mode(fix: str, mode: str, run_dir: Optional[str | Path] = None) -> str:
    """A recorded fix, worded for the command that prints it: `run` (a run folder: its path where known),
    `folders` (`harness evaluate --generated ...`: no run folder to name, the same command again)."""
    if mode == "folders":
        fix = re.sub(r"(then )?run `harness evaluate RUN_DIR`( to fill in [^;.]*)?", "then run this command again", fix)
        return fix.replace("then then", "then")
    if run_dir is not None:
        fix = fix.replace("RUN_DIR", str(run_dir))
    return fix


def _grouped_lines(groups: dict[tuple[str, str], dict[str, list[str]]], mode: str, where: str,
                   run_dir: Optional[str | Path]) -> list[str]:
    again = "run this command again" if mode == "folders" else \
        f"run `harness evaluate {run_dir if run_dir is not None else 'RUN_DIR'}`"
    lines = []
    for (why, fix), group in groups.items():
        runs = group.get("runs") or []
        inside = "" if not runs else f" in {runs[0]}" if len(runs) == 1 else f" in {len(runs)} runs"
        named = run_dir if run_dir is not None else runs[0] if len(runs) == 1 else None
        fix = fix_for_mode(fix, mode, named) if fix else f"address the reason, then {again}"
        lines.append(f"{where}{', '.join(group['metrics'])} ({', '.join(group['dirs'])}) not computed{inside}: "
                     f"{why}. Fix: {fix}")
    return lines


def _add(groups: dict, reason: str, metric: str, direction: str, run: Optional[str] = None) -> None:
    group = groups.setdefault(split_reason(reason), {"metrics": [], "dirs": [], "runs": []})
    for key, value in (("metrics", metric), ("dirs", direction), ("runs", run)):
        if value is not None and value not in group[key]:
            group[key].append(value)


def unavailable_lines(metrics: dict[str, Any], run_dir: Optional[str | Path] = None, mode: str = "run") -> list[str]:
    """One line per distinct reason a metric in `metrics` (a result's metrics section) is not `ok`, naming
    the metrics and directions it stopped; the fix worded for `mode` (see fix_for_mode)."""
    where = f"{run_dir}: " if run_dir is not None else ""
    directions = metrics.get("directions") or {}
    if not directions and metrics.get("status") != "evaluated":
        again = f"`harness evaluate {run_dir}`" if run_dir is not None else "`harness evaluate RUN_DIR`"
        return [f"{where}no metrics: {metrics.get('reason', 'not evaluated')}; fix: run {again}"]
    groups: dict[tuple[str, str], dict[str, list[str]]] = {}
    for direction, entries in directions.items():
        for key, entry in entries.items():
            if entry.get("status") != "ok":
                _add(groups, entry.get("reason", "no reason recorded"), key, direction)
    return _grouped_lines(groups, mode, where, run_dir)


def runs_unavailable_lines(run_dirs: list[str | Path]) -> list[str]:
    """One line per distinct reason over the finished runs' result.json files: the metrics it stopped, in
    how many runs (a 19-method demo without Inception weights gives one line, not 76)."""
    groups: dict[tuple[str, str], dict[str, list[str]]] = {}
    for run_dir in run_dirs:
        path = Path(run_dir) / "result.json"
        if not path.is_file():
            continue
        metrics = json.loads(path.read_text()).get("metrics") or {}
        for direction, entries in (metrics.get("directions") or {}).items():
            for key, entry in entries.items():
                if entry.get("status") != "ok":
                    _add(groups, entry.get("reason", "no reason recorded"), key, direction, str(run_dir))
    return _grouped_lines(groups, "run", "", None)


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
