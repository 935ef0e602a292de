"""Weight-free full-reference scores for paired tasks: PSNR and SSIM of each translation against its
ground-truth pair (scikit-image's `peak_signal_noise_ratio` / `structural_similarity`, not hand-written).

Where a task's test split is aligned (the demo, Cityscapes photo↔label), every translation of test
image i has a true counterpart: the other half of pair i. These scores need no network and no
download, so they give a number even where no segmenter or Inception weights are installed. They are
their own metric ids (`paired_psnr`, `paired_ssim`) in their own tables, never mixed into the
paper's KID/FCN columns (the paper reports neither).

- Both images are uint8 RGB at the run's test size (the real one resized the way KID's real images
  are); PSNR with data_range 255, SSIM (Wang et al. 2004) with scikit-image's defaults (7×7 uniform
  window, `channel_axis` averaged) on the 0..255 range.
- `value` is the mean over test pairs; `std` the std over pairs (ddof 1) and `se` = std/√n, the
  standard error of the mean over images.
- PSNR is infinite for a translation equal to its pair: such a set is recorded unavailable with that
  reason (e.g. the `real-vs-real` reference row), never as a large made-up number.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from harness.evaluation.context import EvalContext
from harness.evaluation.fcn_score import unavailable
from harness.registry import METRICS

FAMILY = "paired_fidelity"
KEYS = {"psnr": "paired_psnr", "ssim": "paired_ssim"}


def _pairs(ctx: EvalContext, direction: str) -> list[tuple[np.ndarray, np.ndarray]]:
    generated, truth = ctx.generated(direction), ctx.real(direction[-1])
    return [(img.permute(1, 2, 0).numpy(), truth.image(image_id).permute(1, 2, 0).numpy())
            for image_id, img in generated]


def _entry(values: list[float], record: dict[str, Any]) -> dict[str, Any]:
    arr = np.asarray(values, dtype=np.float64)
    std = float(arr.std(ddof=1)) if len(arr) > 1 else None
    return {"status": "ok", "value": float(arr.mean()), "std": std, "std_method": "over_test_pairs",
            "se": None if std is None else std / math.sqrt(len(arr)), "se_method": "std_over_pairs/sqrt(n)",
            "n_pairs": len(arr), "weights_sha256": None, **record}


def paired_fidelity(ctx: EvalContext, direction: str) -> dict[str, Any]:
    """PSNR and SSIM of one direction's translations against their ground-truth pairs."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity
    assert ctx.prepared is not None
    if not ctx.prepared.split.paired_ids("test"):
        reason = "PSNR/SSIM need aligned test pairs; this task's test split is not paired"
        return {key: unavailable(reason) for key in KEYS.values()}
    pairs = _pairs(ctx, direction)
    base = {"ground_truth": "the other half of each aligned test pair, at the run's test size",
            "library": "scikit-image"}
    out: dict[str, Any] = {}
    if any(np.array_equal(gen, truth) for gen, truth in pairs):
        out[KEYS["psnr"]] = unavailable("some translations equal their ground truth exactly: PSNR is infinite")
    else:
        psnr = [float(peak_signal_noise_ratio(truth, gen, data_range=255)) for gen, truth in pairs]
        out[KEYS["psnr"]] = _entry(psnr, {**base, "metric_id": "psnr@rgb-uint8/v1", "data_range": 255})
    ssim = [float(structural_similarity(truth, gen, data_range=255, channel_axis=-1)) for gen, truth in pairs]
    out[KEYS["ssim"]] = _entry(ssim, {**base, "metric_id": "ssim@rgb-uint8-uniform7/v1", "data_range": 255,
                                      "window": "7x7 uniform (scikit-image default)"})
    return out


METRICS.register(FAMILY, paired_fidelity,
                 description="PSNR and SSIM of each translation against its ground-truth pair (paired tasks; "
                             "weight-free, scikit-image)")
__all__ = ["paired_fidelity", "KEYS"]
