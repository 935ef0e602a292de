"""Score plain folders from any codebase: `harness evaluate --generated DIR [--reference DIR]
[--source DIR] [--labels DIR]`.

- with `--reference`: target-KID and target-FID (and fused-KID / fused-FID with `--source`), from
  one Inception pass per folder;
- with `--labels`: the FCN score of the generated images against the label folder (matched by
  file stem). Label files are either integer train-id maps (single channel, 0..18, 255 = ignore,
  e.g. the converter's `train_ids/val/`) or Cityscapes colour labels (nearest palette colour,
  pixels farther than 30 RGB units ignored); `gt_source` records which. `--fcn-mode label2photo`
  (default) segments the generated photos; `photo2label` reads generated label colours.

Images are read as they are (no resize): give folders at the evaluation size, as PNG. A metric
that cannot be computed is an `unavailable` entry with the reason, as in result files.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
from PIL import Image

from harness.data.layouts import IMAGE_EXTENSIONS
from harness.errors import HarnessError
from harness.evaluation.context import PROTOCOL, EvalContext, EvalOptions
from harness.evaluation.fcn_score import FCN_KEYS, colour_label_gt, fcn_entries, palette_hist, segment_hist
from harness.evaluation.fid import fid, fused_fid
from harness.evaluation.images import ImageSet, folder_set
from harness.evaluation.inception import WeightsUnavailable
from harness.evaluation.kid import KidRefused, fused_kid, kid
from harness.evaluation.metrics import unavailable

FCN_MODES = ("label2photo", "photo2label")


def _kid_entries(ctx: EvalContext, gen: ImageSet, ref: ImageSet, source: Optional[Path]) -> dict[str, Any]:
    keys = ["target_kid_x100", "target_fid"] + (["fused_kid_x100", "fused_fid"] if source is not None else [])
    try:
        ext = ctx.extractor()
        f_gen, f_ref = ctx.features(gen), ctx.features(ref)
        f_src = ctx.features(folder_set(source, "source")) if source is not None else None
    except WeightsUnavailable as exc:
        return {key: unavailable(str(exc)) for key in keys}
    record = {**ext.record(), "for_leaderboards": ext.spec.leaderboard}
    mode = ctx.options.kid.fused_mode
    work = {"target_kid_x100": (lambda: kid(f_gen, f_ref, ctx.options.kid), "kid", "target"),
            "target_fid": (lambda: fid(f_gen, f_ref, ctx.options.kid), "fid", "target"),
            "fused_kid_x100": (lambda: fused_kid(f_gen, f_src, f_ref, ctx.options.kid), "kid", f"fused-{mode}"),
            "fused_fid": (lambda: fused_fid(f_gen, f_src, f_ref, ctx.options.kid), "fid", "fused-union")}
    out = {}
    for key in keys:
        compute, metric, flavour = work[key]
        try:
            out[key] = {**compute(), "metric_id": f"{metric}@{ext.spec.name}/{flavour}/v1", **record}
        except KidRefused as exc:
            out[key] = unavailable(str(exc))
    return out


def read_label_map(path: Path) -> tuple[np.ndarray, str]:
    """(train ids, gt_source) of one label file: single-channel maps are train ids, RGB is colours."""
    try:
        with Image.open(path) as img:
            if img.mode in ("L", "P", "I", "I;16"):
                ids = np.asarray(img.convert("L") if img.mode == "P" else img).astype(np.int64)
                return np.where(ids < 19, ids, 255).astype(np.uint8), "train_ids"
            return colour_label_gt(np.asarray(img.convert("RGB"), dtype=np.uint8)), "colour_labels"
    except OSError as exc:
        raise HarnessError(f"cannot read label file {path}: {exc}") from exc


def folder_fcn(ctx: EvalContext, gen: ImageSet, labels: Path, mode: str) -> dict[str, Any]:
    if mode not in FCN_MODES:
        raise HarnessError(f"--fcn-mode must be one of {', '.join(FCN_MODES)}, not {mode!r}")
    if not labels.is_dir():
        raise HarnessError(f"--labels {labels} is not a folder")
    by_stem = {p.stem: p for p in sorted(labels.iterdir()) if p.suffix.lower() in IMAGE_EXTENSIONS}
    missing = [i for i in gen.ids if Path(i).stem not in by_stem]
    if missing:
        raise HarnessError(f"--labels {labels} has no label file for {len(missing)} generated image(s), e.g. "
                           f"{missing[0]} (labels are matched by file stem)")
    sources: set[str] = set()

    def gt(image_id: str) -> np.ndarray:
        ids, source = read_label_map(by_stem[Path(image_id).stem])
        sources.add(source)
        return ids

    if mode == "photo2label":
        hist, record = palette_hist(gen, gt), {"metric_id": "fcn-score@palette-nearest/v1", "segmenter": None}
    else:
        try:
            seg = ctx.segmenter()
        except WeightsUnavailable as exc:
            return {k: unavailable(str(exc)) for k in FCN_KEYS.values()}
        hist, record = segment_hist(ctx, gen, gt), {"metric_id": f"fcn-score@{seg.name}/v1", **seg.record()}
    gt_source = sources.pop() if len(sources) == 1 else "+".join(sorted(sources))
    return fcn_entries(hist, {**record, "mode": mode}, len(gen), gt_source=gt_source, labels=str(labels))


def evaluate_folders(generated: Path, reference: Optional[Path] = None, options: Optional[EvalOptions] = None,
                     source: Optional[Path] = None, labels: Optional[Path] = None,
                     fcn_mode: str = "label2photo") -> dict[str, Any]:
    """Every metric the given folders allow (see the module docstring)."""
    options = options or EvalOptions()
    ctx = EvalContext(options)
    gen = folder_set(Path(generated), "generated")
    sets = [gen]
    out: dict[str, Any] = {"protocol": PROTOCOL, "options": options.record()}
    if reference is not None:
        ref = folder_set(Path(reference), "reference")
        sets.append(ref)
        out.update(_kid_entries(ctx, gen, ref, Path(source) if source is not None else None))
    if labels is not None:
        out.update(folder_fcn(ctx, gen, Path(labels), fcn_mode))
    out["warnings"] = [s.notes["warning"] for s in sets if "warning" in s.notes]
    return out
