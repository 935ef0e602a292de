"""Result files → pandas frames. Nothing here reads anything but `result.json` files.

`runs_frame`: one row per result file (what a run is and which protocol it followed).
`metrics_frame`: tidy long form, one row per (result file, direction, metric), with the run's
protocol columns repeated so that any slice carries what it needs for the protocol guard.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pandas as pd

from harness.leaderboard.specs import REFERENCE_MODULE_PREFIX
from harness.results import iter_results

RUN_COLUMNS = ["file", "task", "task_version", "method", "method_class", "setting", "schedule", "seed",
               "schema_version", "status", "has_overrides", "manifest_digest", "split_digest", "metrics_status",
               "metrics_protocol", "metrics_attempted", "reimplemented", "provenance", "wall_time_s", "steps",
               "created_at"]
METRIC_COLUMNS = ["file", "direction_key", "direction_name", "metric", "metric_status", "value", "std",
                  "n_generated", "subset_size", "subsets", "metric_id", "weights_sha256", "reason",
                  "for_leaderboards", "tool", "segmenter", "segmenter_label", "ceiling", "protocol_note", "fused_mode"]
# Metric status of an entry that evaluation marked `for_leaderboards: false` (a test-only extractor or
# segmenter): its number exists but never enters a table.
EXCLUDED = "not_for_leaderboards"


@dataclass
class Collection:
    root: Path
    runs: pd.DataFrame
    metrics: pd.DataFrame  # long form, already joined with the run columns

    def is_reference(self, method: str, method_class: Optional[str], reference_methods: tuple[str, ...]) -> bool:
        return method in reference_methods or str(method_class or "").startswith(REFERENCE_MODULE_PREFIX)


def _run_row(rel: str, result: dict[str, Any]) -> dict[str, Any]:
    task = result.get("task") or {}
    data = result.get("data") or {}
    metrics = result.get("metrics") or {}
    run = result.get("run") or {}
    config = result.get("config") or {}
    method_config = config.get("method") or {}
    provenance = method_config.get("provenance") if isinstance(method_config, dict) else None
    return {"file": rel, "task": task.get("name"), "task_version": task.get("version"),
            "method": result.get("method"), "method_class": config.get("method_class"),
            "setting": result.get("setting"), "schedule": result.get("schedule"), "seed": result.get("seed"),
            "schema_version": result.get("schema_version"), "status": result.get("status"),
            "has_overrides": bool(config.get("overrides")),
            "manifest_digest": data.get("manifest_digest"), "split_digest": data.get("split_digest"),
            "metrics_status": metrics.get("status"), "metrics_protocol": metrics.get("protocol"),
            # evaluation ran (entries exist) even when every metric came out unavailable
            "metrics_attempted": bool(metrics.get("directions")),
            "reimplemented": bool(provenance) or bool(isinstance(method_config, dict)
                                                      and method_config.get("reimplemented")),
            "provenance": provenance,
            "wall_time_s": run.get("wall_time_s"), "steps": run.get("steps"), "created_at": result.get("created_at")}


def _metric_rows(rel: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    names = result.get("directions") or {}
    rows = []
    for key, entries in ((result.get("metrics") or {}).get("directions") or {}).items():
        for metric, entry in (entries or {}).items():
            entry = entry or {}
            status, reason = entry.get("status"), entry.get("reason")
            tool = entry.get("extractor") or entry.get("segmenter")
            if status == "ok" and entry.get("for_leaderboards") is False:
                status = EXCLUDED
                reason = (f"computed with the test-only {'extractor' if entry.get('extractor') else 'tool'} "
                          f"{tool!r} (for_leaderboards: false); never shown in a table")
            ok = status == "ok"
            rows.append({"file": rel, "direction_key": key, "direction_name": names.get(key, key), "metric": metric,
                         "metric_status": status, "value": entry.get("value") if ok else None,
                         "std": entry.get("std") if ok else None, "n_generated": entry.get("n_generated"),
                         "subset_size": entry.get("subset_size"), "subsets": entry.get("subsets"),
                         "metric_id": entry.get("metric_id"), "weights_sha256": entry.get("weights_sha256"),
                         "reason": reason, "for_leaderboards": entry.get("for_leaderboards", True), "tool": tool,
                         "segmenter": entry.get("segmenter"), "segmenter_label": entry.get("segmenter_label"),
                         "ceiling": entry.get("ceiling") if ok else None,
                         "protocol_note": entry.get("protocol_note"), "fused_mode": entry.get("fused_mode")})
    return rows


def collect(root: str | Path) -> Collection:
    """Read every result file under `root` (a missing folder is simply no results)."""
    root = Path(root)
    runs, metrics = [], []
    if root.is_dir():
        for path, result in iter_results(root):
            rel = path.relative_to(root).as_posix()
            runs.append(_run_row(rel, result))
            metrics += _metric_rows(rel, result)
    runs_df = pd.DataFrame(runs, columns=RUN_COLUMNS)
    metrics_df = pd.DataFrame(metrics, columns=METRIC_COLUMNS)
    for col in ("value", "std", "ceiling"):
        metrics_df[col] = pd.to_numeric(metrics_df[col], errors="coerce").astype(float)
    metrics_df = metrics_df.merge(runs_df, on="file", how="left")
    return Collection(root=root, runs=runs_df, metrics=metrics_df)


def filter_schedule(collection: Collection, schedule: Optional[str]) -> Collection:
    if schedule is None:
        return collection
    return Collection(collection.root, collection.runs[collection.runs.schedule == schedule],
                      collection.metrics[collection.metrics.schedule == schedule])
