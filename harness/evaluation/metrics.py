"""The registered metric families: each fills the result keys of one task metric for a direction.

A task's `metrics:` list names families (`target_kid`, `fused_kid`, `fcn_score`); each family
returns entries keyed by the metric names of the paper tables (`target_kid_x100`, ...). A
metric that cannot be computed returns `{"status": "unavailable", "reason": ...}`.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from harness.data.datasets import load_image
from harness.evaluation.context import EvalContext
from harness.evaluation.fcn import GT_MAX_DISTANCE, PALETTE_RECORD, colours_to_ids, confusion, scores
from harness.evaluation.images import ImageSet, read_uint8
from harness.evaluation.inception import WeightsUnavailable
from harness.evaluation.fid import fid, fused_fid
from harness.evaluation.kid import KidRefused, fused_kid, kid
from harness.registry import METRICS

FCN_KEYS = {"per_pixel_acc": "fcn_per_pixel_acc", "per_class_acc": "fcn_per_class_acc", "mean_iou": "fcn_mean_iou"}


def unavailable(reason: str, **extra: Any) -> dict[str, Any]:
    return {"status": "unavailable", "reason": reason, **extra}


def _kid_record(ctx: EvalContext, flavour: str, metric: str = "kid") -> dict[str, Any]:
    ext = ctx.extractor()
    return {"metric_id": f"{metric}@{ext.spec.name}/{flavour}/v1", **ext.record(),
            "for_leaderboards": ext.spec.leaderboard}


def target_kid(ctx: EvalContext, direction: str) -> dict[str, Any]:
    """KID ×100 (and FID, from the same features) of the direction's translations against the real
    test images of its target domain."""
    try:
        gen, ref = ctx.features(ctx.generated(direction)), ctx.features(ctx.real(direction[-1]))
    except WeightsUnavailable as exc:
        return {"target_kid_x100": unavailable(str(exc)), "target_fid": unavailable(str(exc))}
    out = {}
    for key, compute, metric in (("target_kid_x100", kid, "kid"), ("target_fid", fid, "fid")):
        try:
            out[key] = {**compute(gen, ref, ctx.options.kid), **_kid_record(ctx, "target", metric)}
        except KidRefused as exc:
            out[key] = unavailable(str(exc))
    return out


def fused_kid_metric(ctx: EvalContext, direction: str) -> dict[str, Any]:
    """KID ×100 against both real domains' test images, per the recorded `fused_mode`, and FID
    against their union, from the same features."""
    try:
        gen = ctx.features(ctx.generated(direction))
        src, tgt = ctx.features(ctx.real(direction[0])), ctx.features(ctx.real(direction[-1]))
    except WeightsUnavailable as exc:
        return {"fused_kid_x100": unavailable(str(exc)), "fused_fid": unavailable(str(exc))}
    out = {}
    try:
        entry = fused_kid(gen, src, tgt, ctx.options.kid)
        out["fused_kid_x100"] = {**entry, **_kid_record(ctx, f"fused-{ctx.options.kid.fused_mode}"),
                                 "protocol_note": "fused-KID protocol reconstructed (paper does not define it)"}
    except KidRefused as exc:
        out["fused_kid_x100"] = unavailable(str(exc))
    try:
        out["fused_fid"] = {**fused_fid(gen, src, tgt, ctx.options.kid), **_kid_record(ctx, "fused-union", "fid"),
                            "protocol_note": "fused-FID: FID against the union of both real test sets"}
    except KidRefused as exc:
        out["fused_fid"] = unavailable(str(exc))
    return out


# -- FCN score --------------------------------------------------------------------------------
def label_side(ctx: EvalContext) -> str | None:
    if ctx.options.label_side:
        return ctx.options.label_side
    assert ctx.task is not None
    for side in "AB":
        if ctx.task.domain(side) == "label":
            return side
    return None


def ground_truth(ctx: EvalContext, side: str) -> dict[str, np.ndarray]:
    """Train ids of every test label image, at its native resolution (colour labels, nearest palette
    colour, pixels farther than 30 RGB units from the palette ignored)."""
    assert ctx.prepared is not None
    out = {}
    for ref in ctx.prepared.split.test[side]:
        arr = np.asarray(load_image(ref), dtype=np.uint8)
        out[ref.id] = colours_to_ids(arr, max_distance=GT_MAX_DISTANCE)
    return out


def _segment_set(ctx: EvalContext, images: ImageSet, gt: dict[str, np.ndarray]) -> np.ndarray:
    from tqdm import tqdm
    seg = ctx.segmenter()
    hist = None
    for image_id, img in tqdm(images, total=len(images), desc=f"segment {images.name}", unit="img", disable=None,
                              leave=False):
        labels = gt[image_id]
        pred = seg.predict(img[None], labels.shape)[0].numpy()
        h = confusion(labels, pred)
        hist = h if hist is None else hist + h
    return hist


def _fcn_entries(hist: np.ndarray, record: dict[str, Any], n: int, **extra: Any) -> dict[str, Any]:
    s = scores(hist)
    return {key: {"status": "ok", "value": s[name], "n_images": n, **record, **extra,
                  **({"class_iou": s["class_iou"]} if name == "mean_iou" else {})}
            for name, key in FCN_KEYS.items()}


def fcn_score(ctx: EvalContext, direction: str) -> dict[str, Any]:
    """label→photo: segment the translations; photo→label: nearest-palette colours of the translations.
    One confusion matrix over the whole test set against the ground-truth labels."""
    side = label_side(ctx)
    if side is None:
        return {k: unavailable("the task has no label domain (FCN score needs Cityscapes-style labels)")
                for k in FCN_KEYS.values()}
    assert ctx.prepared is not None
    if not ctx.prepared.split.paired_ids("test"):
        return {k: unavailable("FCN score needs aligned photo|label test pairs") for k in FCN_KEYS.values()}
    gt = ground_truth(ctx, side)
    generated = ctx.generated(direction)
    res = {"gt_resolution": "native label image size", **PALETTE_RECORD}
    if direction[-1] == side:  # photo→label: compare colours, no segmenter
        hist = None
        for image_id, img in generated:
            labels = gt[image_id]
            pred = colours_to_ids(img)
            pred = F.interpolate(torch.from_numpy(pred)[None, None].float(), size=labels.shape, mode="nearest")
            h = confusion(labels, pred[0, 0].to(torch.uint8).numpy())
            hist = h if hist is None else hist + h
        record = {"metric_id": "fcn-score@palette-nearest/v1", "segmenter": None, "mode": "photo2label"}
        return _fcn_entries(hist, record, len(generated), **res)
    try:
        seg = ctx.segmenter()
    except WeightsUnavailable as exc:
        return {k: unavailable(str(exc)) for k in FCN_KEYS.values()}
    record = {"metric_id": f"fcn-score@{seg.name}/v1", **seg.record(), "mode": "label2photo"}
    hist = _segment_set(ctx, generated, gt)
    ceiling = segmenter_ceiling(ctx, direction[-1], gt)
    entries = _fcn_entries(hist, record, len(generated), **res)
    for name, key in FCN_KEYS.items():
        entries[key]["ceiling"] = ceiling[name]
    return entries


def segmenter_ceiling(ctx: EvalContext, photo_side: str, gt: dict[str, np.ndarray]) -> dict[str, float]:
    """The segmenter's score on the real test photos at the run's test size (cached per data and weights)."""
    seg = ctx.segmenter()
    real = ctx.real(photo_side)
    key = {"kind": "ceiling", **(real.cache_key or {}), **seg.record(), "gt": "native colour labels, 30 RGB units"}
    hist = ctx.real_cache.get(key, lambda: torch.from_numpy(_segment_set(ctx, real, gt))).numpy()
    out = {k: v for k, v in scores(hist).items() if k != "class_iou"}
    ctx.ceilings["fcn"] = {**out, "segmenter": seg.name, "weights_sha256": seg.weights.sha256,
                           "n_images": len(real), "what": "real test photos at the run's test size"}
    return out


METRICS.register("target_kid", target_kid,
                 description="KID x100 (and FID), translations vs real target test images")
METRICS.register("fused_kid", fused_kid_metric,
                 description="KID x100 vs both real domains (fused_mode recorded), and FID vs their union")
METRICS.register("fcn_score", fcn_score, description="per-pixel acc, per-class acc, mean IoU on Cityscapes labels")
__all__ = ["target_kid", "fused_kid_metric", "fcn_score", "segmenter_ceiling", "unavailable", "read_uint8"]
