"""The FCN-score metric family: segment label→photo outputs, read photo→label outputs by palette,
one confusion matrix over the test set against the ground truth.

Ground truth (recorded in every entry as `gt_source`):
- `train_ids`: the converter's full-resolution integer maps (`<data>/train_ids/val/<id>.png`,
  1024x2048, 255 = ignore), the pix2pix protocol's ground truth; used when the map of every test
  image exists (data made by `python -m harness.data.cityscapes`);
- `colour_labels`: otherwise, the label half of each aligned test image (256 px in the pix2pix
  release), each pixel the train id of the nearest palette colour, pixels farther than 30 RGB units
  from every palette colour ignored (void, JPEG noise).

Each set of images is segmented once per evaluation, in batches (`segment_hist` is memoised per
set): the `real-vs-real` row scores the real photos that are also the segmenter ceiling, so they
are segmented once, not twice. Ground-truth maps are read per use, never all held (500 full-size
maps are 1 GB).
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from harness.data.datasets import load_image
from harness.evaluation.context import EvalContext
from harness.evaluation.fcn import GT_MAX_DISTANCE, PALETTE_RECORD, colours_to_ids, confusion, scores
from harness.evaluation.images import ImageSet
from harness.evaluation.inception import WeightsUnavailable

FCN_KEYS = {"per_pixel_acc": "fcn_per_pixel_acc", "per_class_acc": "fcn_per_class_acc", "mean_iou": "fcn_mean_iou"}
SEGMENT_BATCH = 4  # on CPU, batches of 4 and 8 took the same time; 8 peaked at 2 GB of memory
GroundTruth = Callable[[str], np.ndarray]  # image id → H×W train ids (uint8, 255 = ignore)


def unavailable(reason: str, **extra: Any) -> dict[str, Any]:
    return {"status": "unavailable", "reason": reason, **extra}


def label_side(ctx: EvalContext) -> Optional[str]:
    if ctx.options.label_side:
        return ctx.options.label_side
    assert ctx.task is not None
    for side in "AB":
        if ctx.task.domain(side) == "label":
            return side
    return None


def colour_label_gt(image: np.ndarray) -> np.ndarray:
    """A colour label image (H×W×3 uint8) → train ids, far-from-palette pixels ignored."""
    return colours_to_ids(image, max_distance=GT_MAX_DISTANCE)


def ground_truth(ctx: EvalContext, side: str) -> tuple[GroundTruth, dict[str, Any]]:
    """A loader of each test image's train ids and the record saying which ground truth it is."""
    from harness.data.cityscapes import read_train_ids, train_id_path
    assert ctx.prepared is not None
    refs = {ref.id: ref for ref in ctx.prepared.split.test[side]}
    root = ctx.prepared.root
    if refs and all(train_id_path(root, "test", i).is_file() for i in refs):
        return (lambda image_id: read_train_ids(root, "test", image_id),
                {"gt_source": "train_ids", "gt_resolution": "full resolution of the converter's train_ids/ maps"})
    return (lambda image_id: colour_label_gt(np.asarray(load_image(refs[image_id]), dtype=np.uint8)),
            {"gt_source": "colour_labels", "gt_resolution": "native label image size",
             "gt_max_distance": GT_MAX_DISTANCE})


def segment_hist(ctx: EvalContext, images: ImageSet, gt: GroundTruth) -> np.ndarray:
    """Confusion matrix of the segmenter over a set, batched; computed once per set and evaluation."""
    memo = ctx.memo.setdefault("segment_hist", {})
    if id(images) in memo:
        return memo[id(images)]
    from tqdm import tqdm
    seg = ctx.segmenter()
    hist = None
    batch: list[tuple[str, torch.Tensor]] = []

    def flush() -> None:
        nonlocal hist
        if not batch:
            return
        labels = [gt(image_id) for image_id, _ in batch]
        images_ = torch.stack([img for _, img in batch])
        if all(label.shape == labels[0].shape for label in labels):
            preds = list(seg.predict(images_, labels[0].shape))
        else:
            preds = [seg.predict(images_[i:i + 1], label.shape)[0] for i, label in enumerate(labels)]
        for label, pred in zip(labels, preds):
            h = confusion(label, pred.numpy())
            hist = h if hist is None else hist + h
        batch.clear()

    for image_id, img in tqdm(images, total=len(images), desc=f"segment {images.name}", unit="img", disable=None,
                              leave=False):
        # one batch needs one input size (plain folders may mix them); label sizes are checked per flush
        if batch and (img.shape != batch[0][1].shape or len(batch) == SEGMENT_BATCH):
            flush()
        batch.append((image_id, img))
    flush()
    memo[id(images)] = hist
    return hist


def palette_hist(images: ImageSet, gt: GroundTruth) -> np.ndarray:
    """photo→label: each generated pixel's nearest palette colour, upsampled to the label size."""
    hist = None
    for image_id, img in images:
        labels = gt(image_id)
        pred = torch.from_numpy(colours_to_ids(img))[None, None].float()
        pred = F.interpolate(pred, size=labels.shape, mode="nearest")[0, 0].to(torch.uint8).numpy()
        h = confusion(labels, pred)
        hist = h if hist is None else hist + h
    return hist


def fcn_entries(hist: np.ndarray, record: dict[str, Any], n: int, **extra: Any) -> dict[str, Any]:
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
    gt, gt_record = ground_truth(ctx, side)
    generated = ctx.generated(direction)
    res = {**gt_record, **{k: v for k, v in PALETTE_RECORD.items() if k != "gt_max_distance"}}
    if direction[-1] == side:  # photo→label: compare colours, no segmenter
        record = {"metric_id": "fcn-score@palette-nearest/v1", "segmenter": None, "mode": "photo2label"}
        return fcn_entries(palette_hist(generated, gt), record, len(generated), **res)
    try:
        seg = ctx.segmenter()
    except WeightsUnavailable as exc:
        return {k: unavailable(str(exc)) for k in FCN_KEYS.values()}
    record = {"metric_id": f"fcn-score@{seg.name}/v1", **seg.record(), "mode": "label2photo"}
    hist = segment_hist(ctx, generated, gt)
    ceiling = segmenter_ceiling(ctx, direction[-1], gt, gt_record)
    entries = fcn_entries(hist, record, len(generated), **res)
    for name, key in FCN_KEYS.items():
        entries[key]["ceiling"] = ceiling[name]
    return entries


def segmenter_ceiling(ctx: EvalContext, photo_side: str, gt: GroundTruth, gt_record: dict[str, Any]
                      ) -> dict[str, float]:
    """The segmenter's score on the real test photos at the run's test size (cached per data, weights
    and ground truth)."""
    seg = ctx.segmenter()
    real = ctx.real(photo_side)
    key = {"kind": "ceiling", **(real.cache_key or {}), **seg.record(), "gt": gt_record["gt_source"],
           "gt_max_distance": GT_MAX_DISTANCE}
    hist = ctx.real_cache.get(key, lambda: torch.from_numpy(segment_hist(ctx, real, gt))).numpy()
    out = {k: v for k, v in scores(hist).items() if k != "class_iou"}
    ctx.ceilings["fcn"] = {**out, "segmenter": seg.name, "weights_sha256": seg.weights.sha256,
                           "n_images": len(real), "what": "real test photos at the run's test size",
                           "gt_source": gt_record["gt_source"]}
    return out
