"""The registered metric families: each fills the result keys of one task metric for a direction.

A task's `metrics:` list names families (`target_kid`, `fused_kid`, `fcn_score`); each family
returns entries keyed by the metric names of the paper tables (`target_kid_x100`, ...). A
metric that cannot be computed returns `{"status": "unavailable", "reason": ...}`.
"""
from __future__ import annotations

from typing import Any

from harness.evaluation.context import EvalContext
from harness.evaluation.fcn_score import FCN_KEYS, fcn_score, label_side, segmenter_ceiling, unavailable
from harness.evaluation.fid import fid, fused_fid
from harness.evaluation.images import read_uint8
from harness.evaluation.inception import WeightsUnavailable
from harness.evaluation.kid import KidRefused, fused_kid, kid
from harness.registry import METRICS


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


METRICS.register("target_kid", target_kid,
                 description="KID x100 (and FID), translations vs real target test images")
METRICS.register("fused_kid", fused_kid_metric,
                 description="KID x100 vs both real domains (fused_mode recorded), and FID vs their union")
METRICS.register("fcn_score", fcn_score, description="per-pixel acc, per-class acc, mean IoU on Cityscapes labels")
__all__ = ["target_kid", "fused_kid_metric", "fcn_score", "segmenter_ceiling", "unavailable", "read_uint8", "FCN_KEYS",
           "label_side"]
