"""What a run page shows, as plain data for run.html: the metric values first (each distinct
unavailable reason once, numbered), the config as a compact table, the command that reruns the run,
and the run's pictures (loss curves, sample grids, snapshots) shown at an integer scale."""
from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path
from typing import Any, Optional

from PIL import Image

from harness.evaluation.report import split_reason
from harness.report import figures
from harness.safety.paths import inside, regular_files, safe_slug

METRIC_ORDER = ("fcn_mean_iou", "fcn_per_pixel_acc", "fcn_per_class_acc", "target_kid_x100", "fused_kid_x100",
                "target_fid", "fused_fid")
STATUS_WORDS = {"evaluated": "all metrics computed", "partial": "some metrics computed, some unavailable",
                "not_evaluated": "no metric computed", "unavailable": "not computed"}
SCREEN = 1300  # px a picture may take on the page; grids are scaled by the largest whole factor that fits
MIN_TILE = 64  # px on screen for one tile of a small (demo) grid, where the grid says its tile size


def status_words(status: Optional[str]) -> str:
    return STATUS_WORDS.get(str(status), str(status or ""))


def metric_matrix(result: dict) -> dict[str, Any]:
    """Rows: metrics; columns: directions; a cell is a value or `n/a` with the number of its reason.

    Reasons are listed once each (the Inception reason would otherwise repeat on every KID row)."""
    names = result.get("directions") or {}
    directions = (result.get("metrics") or {}).get("directions") or {}
    keys = sorted({m for e in directions.values() for m in e or {}},
                  key=lambda m: (METRIC_ORDER.index(m) if m in METRIC_ORDER else 99, m))
    reasons: list[dict[str, str]] = []
    rows = []
    for metric in keys:
        cells = []
        for direction in directions:
            entry = (directions[direction] or {}).get(metric)
            if entry is None:
                cells.append({"text": "", "note": None})
            elif entry.get("status") == "ok" and entry.get("value") is not None:
                spread = f" ± {entry['std']:.2g}" if entry.get("std") is not None else ""
                cells.append({"text": f"{entry['value']:.4g}{spread}", "note": None})
            else:
                why, fix = split_reason(str(entry.get("reason") or "no reason recorded"))
                item = {"why": why, "fix": fix or ""}
                if item not in reasons:
                    reasons.append(item)
                cells.append({"text": "n/a", "note": reasons.index(item) + 1})
        rows.append({"metric": metric, "cells": cells})
    return {"directions": [f"{names.get(d, d)} ({d})" for d in directions], "rows": rows, "reasons": reasons}


def _flat(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            _flat(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out.append((prefix, value if isinstance(value, str) else json.dumps(value)))


def config_rows(result: dict) -> list[dict[str, Any]]:
    """The method's and the schedule's settings as (section, [(key, value)]) for a compact table."""
    config = result.get("config") or {}
    out = []
    for section, key in (("method", "method"), ("schedule", "schedule"), ("image", "image")):
        pairs: list[tuple[str, str]] = []
        _flat("", {k: v for k, v in (config.get(key) or {}).items() if k not in ("name", "description")}, pairs)
        if pairs:
            out.append({"section": section, "pairs": pairs})
    return out


def rerun_command(result: dict) -> str:
    """The command that trains this run again (same task, method, schedule, seed, overrides, batch)."""
    run = result.get("run") or {}
    options = ((run.get("trainer") or {}).get("options") or {})
    parts = ["harness", "run", "--task", str((result.get("task") or {}).get("name", "?")),
             "--methods", str(result.get("method")), "--schedule", str(result.get("schedule")),
             "--seed", str(result.get("seed", 0))]
    for key, value in ((result.get("config") or {}).get("overrides") or {}).items():
        parts += ["--set", f"{key}={value if isinstance(value, str) else json.dumps(value)}"]
    if options.get("batch_size"):
        parts += ["--batch-size", str(options["batch_size"])]
    if options.get("lr_rule") not in (None, "none"):
        parts += ["--lr-rule", str(options["lr_rule"])]
    return " ".join(shlex.quote(p) for p in parts)


def _copy(src: Optional[Path], site: Path, rel: str) -> Optional[str]:
    """Copy `src` (already checked to lie inside its run folder) to `site/rel`."""
    if src is None or not src.is_file():
        return None
    target = site / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, target)
    return rel


def shown_width(path: Path, tile: Optional[int] = None) -> Optional[int]:
    """The on-screen width at the largest whole scale that fits the page (never below 1; ≥ MIN_TILE px per
    tile where the tile size is known and it fits); None when the file cannot be read."""
    try:
        with Image.open(path) as image:
            width = image.width
    except OSError:
        return None
    scale = max(1, SCREEN // max(width, 1))
    if tile:
        scale = min(scale, max(1, -(-MIN_TILE // tile)))
    else:
        scale = min(scale, 2)
    return width * scale


def _picture(src: str, site: Path, caption: str, tile: Optional[int] = None) -> dict[str, Any]:
    return {"src": src, "caption": caption, "width": shown_width(site / src, tile)}


def run_pictures(page, site: Path) -> dict[str, list[dict]]:
    """Loss curves, sample grids and snapshots of one run, copied/drawn under img/<slug>/."""
    base, out = f"img/{page.slug}", {}
    names = page.result.get("directions") or {}
    samples = []
    tile = ((page.result.get("config") or {}).get("schedule") or {}).get("image_size")
    for direction, info in (page.result.get("samples") or {}).items():
        # the source only inside the run folder, the target named by us, never by the record
        src = _copy(inside(page.run_dir, (info or {}).get("file"), what="samples file"), site,
                    f"{base}/samples_{safe_slug(direction)}.png")
        if src:
            cols = ", ".join(info.get("columns") or [])
            samples.append(_picture(src, site, f"{names.get(direction, direction)}: {cols}", tile))
    if samples:
        out["Samples (as scored: test-time mode, batch 1)"] = samples
    losses = inside(page.run_dir, "losses.jsonl")
    loss = figures.loss_figure(losses, site / base / "losses.png", f"{page.method} on {page.task} ({page.run_id})",
                               vector=True, cache=True) if losses else None
    if loss is not None:
        out["Loss curves"] = [{"src": f"{base}/losses.png", "caption": "mean loss per logging interval "
                               "(one panel per loss family)", "width": None,
                               "vector": f"{base}/losses.svg" if (site / base / "losses.svg").is_file() else None}]
    snaps = []
    snap_dir = inside(page.run_dir, "snapshots", "dir", "snapshots folder")
    for path in regular_files(snap_dir, "step*_*.png", page.run_dir) if snap_dir else []:
        step, _, direction = path.stem.partition("_")
        if not step[4:].isdigit():
            continue
        src = _copy(path, site, f"{base}/snapshots/{safe_slug(path.stem)}.png")
        snaps.append(_picture(src, site, f"{names.get(direction, direction)} at step {int(step[4:])}", tile))
    if snaps:
        out["Snapshots during training (same test images)"] = snaps
    return out


def has_maps(pictures: dict[str, list[dict]], result: dict) -> bool:
    """Whether the sample grids carry attention maps (their columns name a map)."""
    columns = [c for info in (result.get("samples") or {}).values() for c in info.get("columns") or []]
    return any("map" in c or "influence" in c or "attention" in c for c in columns)
