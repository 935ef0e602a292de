"""Run-page sections for a method's own diagnostics and its extra test-time settings.

`run_extras(result)` turns a result's `diagnostics` block (ASGIT's attention probes against a
control generator and its map-structure figures) and its `test_settings` entries (`harness evaluate
RUN_DIR --set`) into plain rows for `templates/_diagnostics.html`; results without them give
nothing, so the section is absent. Kept apart from site.py so the page layout can change freely.
"""
from __future__ import annotations

from typing import Any, Optional

MIN_MOVE = 0.1  # grey levels; a smaller control response gives no ratio
PROBES = (("influence", "own map vs all-ones"), ("specificity", "own map vs another test image's map"),
          ("random_map", "own map vs its values spatially shuffled"))
STRUCTURE = (("test_map_spread", "map spread (mean spatial std)"),
             ("border_interior_ratio", "border / interior mean"), ("framed_share", "share of maps with border/interior > 1.5"),
             ("pairwise_correlation", "mean correlation between maps of different images"),
             ("train_mode_correlation", "correlation of test-time and training-mode maps"),
             ("read_hit_share", "memory reads that found an earlier write"))


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _diagnostics(block: dict) -> Optional[dict]:
    per = block.get("directions") or {}
    if not any("specificity_255" in (v or {}) for v in per.values()):
        return None  # an older result, or a method without probes
    directions = sorted(per)
    probes = []
    for key, meaning in PROBES:
        row = {"probe": key, "meaning": meaning, "cells": []}
        for d in directions:
            own, control = per[d].get(f"{key}_255"), per[d].get(f"control_{key}_255")
            ratio = own / control if own is not None and control is not None and control >= MIN_MOVE else None
            row["cells"] += [_fmt(own, 2), _fmt(control, 2), _fmt(ratio, 2)]
        probes.append(row)
    structure = [{"figure": meaning, "cells": [_fmt(per[d].get(key, block.get(key))) for d in directions]}
                 for key, meaning in STRUCTURE if any(per[d].get(key, block.get(key)) is not None for d in directions)]
    control = block.get("control") or {}
    return {"directions": directions, "probes": probes, "structure": structure,
            "control": control.get("description", "—") + (f" (run {control['run']})" if control.get("run") else ""),
            "definition": block.get("definition", "")}


def _test_settings(result: dict) -> list[dict]:
    rows = []
    for label, entry in sorted((result.get("test_settings") or {}).items()):
        for direction, entries in ((entry.get("metrics") or {}).get("directions") or {}).items():
            for metric, e in sorted((entries or {}).items()):
                e = e or {}
                default = (((result.get("metrics") or {}).get("directions") or {}).get(direction) or {}).get(metric) or {}
                rows.append({"label": label, "direction": direction, "metric": metric, "status": e.get("status"),
                             "value": _fmt(e.get("value"), 4), "default": _fmt(default.get("value"), 4)})
    return rows


def run_extras(result: dict) -> dict:
    """What `_diagnostics.html` shows for one result (empty when there is nothing to show)."""
    block = result.get("diagnostics")
    return {"diagnostics": _diagnostics(block) if isinstance(block, dict) else None,
            "test_settings": _test_settings(result)}
