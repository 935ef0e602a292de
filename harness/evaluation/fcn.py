"""FCN-score maths: Cityscapes palette, colour-label decoding, one confusion matrix per set.

The pix2pix protocol accumulates one 19×19 confusion matrix (rows ground truth, columns
prediction, ground-truth 255 ignored) over the whole validation set and reports per-pixel
accuracy, mean per-class accuracy and mean IoU, with the +1e-12 denominators that count a class
absent from both as 0 (`get_scores` in the pix2pix evaluation scripts). Predictions outside
0..18 on a labelled pixel are misses (the "clean" histogram mode; the original code's
aliasing of class 19 is not reproduced).

photo→label: each generated colour pixel becomes the train id of the nearest palette colour
(L2 in RGB, the 19 train colours). Ground-truth colour labels (JPEG in the pix2pix release)
are decoded the same way, except that pixels farther than `gt_max_distance` from every
palette colour (void, black bonnet, borders, JPEG noise) become 255.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

N_CLASSES = 19
IGNORE = 255
EPS = 1e-12
# Cityscapes train ids 0..18 (mcordts/cityscapesScripts labels.py).
CLASS_NAMES = ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
               "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle",
               "bicycle")
PALETTE = np.array([
    [128, 64, 128], [244, 35, 232], [70, 70, 70], [102, 102, 156], [190, 153, 153], [153, 153, 153],
    [250, 170, 30], [220, 220, 0], [107, 142, 35], [152, 251, 152], [70, 130, 180], [220, 20, 60],
    [255, 0, 0], [0, 0, 142], [0, 0, 70], [0, 60, 100], [0, 80, 100], [0, 0, 230], [119, 11, 32]],
    dtype=np.uint8)
GT_MAX_DISTANCE = 30.0
PALETTE_RECORD = {"palette": "cityscapes-train-19", "distance": "L2 RGB", "gt_max_distance": GT_MAX_DISTANCE}


def colours_to_ids(image: torch.Tensor | np.ndarray, max_distance: Optional[float] = None) -> np.ndarray:
    """uint8 RGB (CHW tensor or HWC array) → H×W train ids by nearest palette colour.

    With `max_distance`, pixels farther than that from every palette colour become 255.
    """
    arr = image.permute(1, 2, 0).numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    pixels = arr.reshape(-1, 3).astype(np.float32)
    palette = PALETTE.astype(np.float32)
    # |p - c|² = |p|² - 2 p·c + |c|², computed without an N×19×3 temporary
    dist2 = (pixels ** 2).sum(1, keepdims=True) - 2.0 * pixels @ palette.T + (palette ** 2).sum(1)[None, :]
    ids = dist2.argmin(1).astype(np.uint8)
    if max_distance is not None:
        nearest = np.take_along_axis(dist2, ids[:, None].astype(np.int64), 1)[:, 0]
        ids[nearest > max_distance ** 2] = IGNORE
    return ids.reshape(arr.shape[:2])


def ids_to_colours(ids: np.ndarray) -> np.ndarray:
    """H×W train ids → H×W×3 uint8 palette colours (255 → black)."""
    out = np.zeros((*ids.shape, 3), dtype=np.uint8)
    valid = ids < N_CLASSES
    out[valid] = PALETTE[ids[valid]]
    return out


def confusion(gt: np.ndarray, pred: np.ndarray, n_classes: int = N_CLASSES) -> np.ndarray:
    """n×n counts over pixels with a valid ground truth; predictions outside 0..n-1 count as misses
    (they land in no column, so they lower accuracy and IoU without adding a false positive)."""
    gt = np.asarray(gt).reshape(-1).astype(np.int64)
    pred = np.asarray(pred).reshape(-1).astype(np.int64)
    if gt.shape != pred.shape:
        raise ValueError(f"ground truth has {gt.size} pixels, prediction {pred.size}")
    keep = (gt >= 0) & (gt < n_classes)
    gt, pred = gt[keep], pred[keep]
    hist = np.zeros((n_classes, n_classes + 1), dtype=np.int64)
    pred = np.where((pred >= 0) & (pred < n_classes), pred, n_classes)  # extra column: "no class"
    np.add.at(hist, (gt, pred), 1)
    return hist


def scores(hist: np.ndarray) -> dict[str, float]:
    """Per-pixel accuracy, mean per-class accuracy, mean IoU of an accumulated confusion matrix."""
    hist = np.asarray(hist, dtype=np.float64)
    n = hist.shape[0]
    square = hist[:, :n]
    tp = np.diag(square)
    gt_total = hist.sum(1)  # includes the "no class" column: those pixels are misses
    pred_total = square.sum(0)
    per_pixel = tp.sum() / (hist.sum() + EPS)
    per_class = tp / (gt_total + EPS)
    iou = tp / (gt_total + pred_total - tp + EPS)
    return {"per_pixel_acc": float(per_pixel), "per_class_acc": float(np.nanmean(per_class)),
            "mean_iou": float(np.nanmean(iou)), "class_iou": [float(v) for v in iou]}
