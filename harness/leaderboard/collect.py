"""Result files → pandas frames. Nothing here reads anything but `result.json` files.

`runs_frame`: one row per result file (what a run is and which protocol it followed).
`metrics_frame`: tidy long form, one row per (result file, direction, metric), with the run's
protocol columns repeated so that any slice carries what it needs for the protocol guard.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pandas as pd

from harness.leaderboard.specs import REFERENCE_MODULE_PREFIX
from harness.safety.result_files import iter_usable_results as iter_results

RUN_COLUMNS = ["file", "task", "task_version", "method", "method_class", "setting", "schedule", "seed",
               "schema_version", "status", "has_overrides", "override_key", "effective_batch", "manifest_digest",
               "split_digest", "metrics_status", "metrics_protocol", "metrics_attempted", "reimplemented",
               "provenance", "wall_time_s", "steps", "created_at"]
METRIC_COLUMNS = ["file", "direction_key", "direction_name", "metric", "metric_status", "value", "std", "se",
                  "n_generated", "n_reference", "subset_size", "std_method", "spread_note", "subsets", "metric_id",
                  "weights_sha256", "reason", "for_leaderboards", "tool", "segmenter", "segmenter_label", "ceiling",
                  "protocol_note", "fused_mode", "se_method"]
# Override keys are canonical JSON, so two runs with the same `--set` values share a row of an ablation table.
NO_OVERRIDES = ""
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
            "override_key": override_key(config.get("overrides")),
            "effective_batch": _effective_batch(run, config),
            "manifest_digest": data.get("manifest_digest"), "split_digest": data.get("split_digest"),
            "metrics_status": metrics.get("status"), "metrics_protocol": metrics.get("protocol"),
            # evaluation ran (entries exist) even when every metric came out unavailable
            "metrics_attempted": bool(metrics.get("directions")),
            "reimplemented": bool(provenance) or bool(isinstance(method_config, dict)
                                                      and method_config.get("reimplemented")),
            "provenance": provenance,
            "wall_time_s": run.get("wall_time_s"), "steps": run.get("steps"), "created_at": result.get("created_at")}


def override_key(overrides: Optional[dict]) -> str:
    return json.dumps(overrides, sort_keys=True, separators=(",", ":")) if overrides else NO_OVERRIDES


def _effective_batch(run: dict, config: dict) -> Optional[int]:
    """batch x processes as the trainer recorded it; results from before that record trained at the schedule's."""
    trainer = run.get("trainer") or {}
    if trainer.get("effective_batch") is not None:
        return int(trainer["effective_batch"])
    schedule = config.get("schedule") or {}
    return int(schedule["batch_size"]) if isinstance(schedule, dict) and schedule.get("batch_size") else None


def usable_spread(entry: dict) -> tuple[Optional[float], str]:
    """The entry's ± if it may enter a table and significance marks, else (None, why not).

    A spread is unusable when evaluation says so (`std: null`, `std_method: unavailable`) and in
    entries written before `std_method` existed whose KID subset size equals both set sizes: every
    subset was then the whole set and the ~1e-14 std is an artefact, not a spread.
    """
    std, method = entry.get("std"), entry.get("std_method")
    if "std" not in entry and method is None:
        return None, ""  # a metric without a spread (FCN scores)
    if std is None or method == "unavailable":
        return None, "spread unavailable" + (f" ({entry['std_reason']})" if entry.get("std_reason") else "")
    size, n_gen, n_ref = entry.get("subset_size"), entry.get("n_generated"), entry.get("n_reference")
    if method is None and size and n_gen and n_ref and size >= n_gen and size >= n_ref:
        return None, (f"± left out: KID subset size {size} equals both set sizes ({n_gen}/{n_ref}), so every "
                      "subset is the whole set and its std is degenerate")
    return float(std), ""


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
            std, spread_note = usable_spread(entry) if ok else (None, "")
            rows.append({"file": rel, "direction_key": key, "direction_name": names.get(key, key), "metric": metric,
                         "metric_status": status, "value": entry.get("value") if ok else None,
                         "std": std, "n_generated": entry.get("n_generated"),
                         "n_reference": entry.get("n_reference"), "subset_size": entry.get("subset_size"),
                         "std_method": entry.get("std_method") if std is not None else None,
                         "spread_note": spread_note, "subsets": entry.get("subsets"),
                         "metric_id": entry.get("metric_id"), "weights_sha256": entry.get("weights_sha256"),
                         "reason": reason, "for_leaderboards": entry.get("for_leaderboards", True), "tool": tool,
                         "segmenter": entry.get("segmenter"), "segmenter_label": entry.get("segmenter_label"),
                         "ceiling": entry.get("ceiling") if ok else None,
                         "protocol_note": entry.get("protocol_note"), "fused_mode": entry.get("fused_mode"),
                         # a single run's calibrated standard error of the mean, where evaluation records one
                         "se": entry.get("se") if ok else None, "se_method": entry.get("se_method")})
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
    for col in ("value", "std", "se", "ceiling"):
        metrics_df[col] = pd.to_numeric(metrics_df[col], errors="coerce").astype(float)
    metrics_df = metrics_df.merge(runs_df, on="file", how="left")
    return Collection(root=root, runs=runs_df, metrics=metrics_df)


def filter_schedule(collection: Collection, schedule: Optional[str]) -> Collection:
    if schedule is None:
        return collection
    return Collection(collection.root, collection.runs[collection.runs.schedule == schedule],
                      collection.metrics[collection.metrics.schedule == schedule])
