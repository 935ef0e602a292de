"""The demo task's ground-truth score, "demo oracle FCN score": exact, weight-free, no download.

The demo data is generated in code (`harness.data.demo`), so its labels and its rendering are
known exactly. The score follows the FCN-score protocol of the Cityscapes tables (one
confusion matrix over the test set, per-pixel accuracy, mean per-class accuracy, mean IoU;
`harness.evaluation.fcn.scores`) with the demo's three classes (background, disc, box):

- render→label (B2A, R2S): each output pixel becomes the class of the nearest demo label
  colour (L2 in RGB), scored against the label map of the test image.
- label→render (A2B, S2R): the demo oracle segments the output. It is no network: for every
  pixel it knows the noise-free colour each class would be rendered in there (the background
  gradient, or the class colour plus the stripe pattern; `demo.expected_colours`) and picks
  the nearest. Its score on the real test renders is recorded as the ceiling (the analogue of
  the Cityscapes segmenter ceiling); it is below 1 only where the generator's noise is larger
  than the gap between two classes' colours.

Ground truth: the test images' label halves, whose pixels are exactly the demo's label colours
(lossless PNG). The entries use the FCN-score keys (`fcn_per_pixel_acc`, ...) so the tables
and listings treat them like every FCN score; `metric_id` and `segmenter` name the instrument.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from harness.data import demo
from harness.data.datasets import load_image
from harness.evaluation.context import EvalContext
from harness.evaluation.fcn import IGNORE, confusion, scores
from harness.evaluation.fcn_score import FCN_KEYS, fcn_entries, unavailable
from harness.evaluation.images import ImageSet
from harness.io import sha256_text
from harness.registry import METRICS

FAMILY = "demo_oracle"
N_CLASSES = len(demo.CLASS_NAMES)
LABEL_SIDE, RENDER_SIDE = "A", "B"
# What the oracle knows; its digest goes into every entry, so a changed generator never shares a column.
ORACLE_PARAMETERS = {"data_version": demo.DATA_VERSION, "render_colours": demo.RENDER_COLOURS.tolist(),
                     "sky": demo.SKY.tolist(), "ground": demo.GROUND.tolist(),
                     "stripe_amplitude": demo.STRIPE_AMPLITUDE, "stripe_frequency": demo.STRIPE_FREQUENCY}
ORACLE_SHA256 = sha256_text(repr(sorted(ORACLE_PARAMETERS.items())))
SEGMENTER = "demo-oracle"
SEGMENTER_LABEL = "demo oracle"


def _nearest(pixels: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Index of the nearest colour (L2) per pixel; `colours` broadcasts against `pixels` (…×K×3)."""
    return ((pixels[..., None, :] - colours) ** 2).sum(-1).argmin(-1).astype(np.uint8)


def segment_render(image: torch.Tensor) -> np.ndarray:
    """uint8 CHW render → H×W class ids: per pixel, the class whose noise-free colour there is nearest."""
    arr = image.permute(1, 2, 0).numpy().astype(np.float32)
    expected = demo.expected_colours(*arr.shape[:2])  # K×H×W×3
    return _nearest(arr, np.moveaxis(expected, 0, 2))


def label_colours_to_ids(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """uint8 RGB (CHW tensor or HWC array) → H×W class ids by nearest demo label colour."""
    arr = image.permute(1, 2, 0).numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    return _nearest(arr.astype(np.float32), demo.LABEL_COLOURS.astype(np.float32))


def ground_truth(ctx: EvalContext) -> dict[str, np.ndarray]:
    """Class ids of every test label image at its native size; a pixel that is not exactly a demo
    label colour (none in generated data; a user's edited copy might have some) is ignored."""
    assert ctx.prepared is not None
    out = {}
    for ref in ctx.prepared.split.test[LABEL_SIDE]:
        arr = np.asarray(load_image(ref), dtype=np.uint8)
        ids = label_colours_to_ids(arr)
        exact = (demo.LABEL_COLOURS[ids] == arr).all(-1)
        out[ref.id] = np.where(exact, ids, IGNORE).astype(np.uint8)
    return out


def _confusion(images: ImageSet, gt: dict[str, np.ndarray], to_ids) -> np.ndarray:
    hist = np.zeros((N_CLASSES, N_CLASSES + 1), dtype=np.int64)
    for image_id, img in images:
        labels = gt[image_id]
        if tuple(img.shape[1:]) != labels.shape:  # a run at another size: score at the label's size
            img = F.interpolate(img[None].float(), size=labels.shape, mode="nearest")[0].round().to(torch.uint8)
        hist += confusion(labels, to_ids(img), N_CLASSES)
    return hist


def _entries(hist: np.ndarray, record: dict[str, Any], n: int) -> dict[str, Any]:
    """The FCN-score entries (same keys and shape as Cityscapes'), class IoUs named by demo class."""
    entries = fcn_entries(hist, record, n)
    iou = entries[FCN_KEYS["mean_iou"]]
    iou["class_iou"] = dict(zip(demo.CLASS_NAMES, iou["class_iou"]))
    return entries


def _unavailable(reason: str) -> dict[str, Any]:
    return {key: unavailable(reason) for key in FCN_KEYS.values()}


def demo_oracle_score(ctx: EvalContext, direction: str) -> dict[str, Any]:
    """The demo oracle FCN score of one direction's translations (see the module docstring)."""
    if ctx.task is None or ctx.task.layout != "demo":
        return _unavailable("the demo oracle FCN score exists only for the generated demo task")
    assert ctx.prepared is not None
    if not ctx.prepared.split.paired_ids("test"):
        return _unavailable("the demo oracle FCN score needs the demo's aligned shape|render test pairs")
    gt = ground_truth(ctx)
    base = {"classes": list(demo.CLASS_NAMES), "gt": "label halves of the test images (exact colours)",
            "oracle_sha256": ORACLE_SHA256, "weights_sha256": None}
    generated = ctx.generated(direction)
    if direction[-1] == LABEL_SIDE:  # render→label: nearest label colour, no segmenter
        record = {**base, "metric_id": "fcn-score@demo-label-colours/v1", "segmenter": None,
                  "mode": "photo2label", "distance": "L2 RGB to the 3 demo label colours"}
        return _entries(_confusion(generated, gt, label_colours_to_ids), record, len(generated))
    record = {**base, "metric_id": f"fcn-score@{SEGMENTER}/v1", "segmenter": SEGMENTER,
              "segmenter_label": SEGMENTER_LABEL, "mode": "label2photo"}
    entries = _entries(_confusion(generated, gt, segment_render), record, len(generated))
    ceiling = oracle_ceiling(ctx, gt)
    for name, key in FCN_KEYS.items():
        entries[key]["ceiling"] = ceiling[name]
    return entries


def oracle_ceiling(ctx: EvalContext, gt: dict[str, np.ndarray]) -> dict[str, float]:
    """The oracle's score on the real test renders at the run's test size (recorded in `ceilings`)."""
    real = ctx.real(RENDER_SIDE)
    out = {k: v for k, v in scores(_confusion(real, gt, segment_render)).items() if k != "class_iou"}
    ctx.ceilings["demo_oracle"] = {**out, "segmenter": SEGMENTER, "oracle_sha256": ORACLE_SHA256,
                                   "n_images": len(real), "what": "real test renders at the run's test size"}
    return out


METRICS.register(FAMILY, demo_oracle_score,
                 description="demo oracle FCN score: per-pixel/per-class acc and mIoU against the demo's "
                             "known labels (exact, no weights)")
__all__ = ["demo_oracle_score", "segment_render", "label_colours_to_ids", "ORACLE_SHA256"]
