"""FID beside KID: the Fréchet distance of Gaussian fits to the same Inception features, through
torch-fidelity's own `fid_features_to_statistics` / `fid_statistics_to_metric` (never hand-rolled).

FID is biased upward for small sets and the bias depends on the set size (Bińkowski et al., 2018):
on the 120-500-image test splits of these tasks FID values are only comparable between runs with
the same set sizes, and differences of a few points can be sample noise. The paper reports KID, so
its tables stay KID; FID is recorded for readers who compare with other work. No spread is
estimated (`std: null`, `std_method: "unavailable"`).

- `target_fid`: translations vs the real target test images;
- `fused_fid`: translations vs the union of both real domains' test images (all of them).
"""
from __future__ import annotations

from typing import Any

import torch

from harness.evaluation.kid import KidOptions, KidRefused, _as_tensor

FID_NOTE = ("biased upward for small sets and the bias depends on the set size: compare FID only between runs "
            "with equal set sizes; the paper reports KID")


def fid(generated: torch.Tensor, reference: torch.Tensor, options: KidOptions, flavour: str = "target",
        **extra: Any) -> dict[str, Any]:
    """One FID entry (same shape as a KID entry: status, value, std, std_method, set sizes, ...)."""
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric
    gen, ref = _as_tensor(generated), _as_tensor(reference)
    smaller = min(len(gen), len(ref))
    if smaller < options.min_images:
        raise KidRefused(f"FID needs at least {options.min_images} images per set; got {len(gen)} generated "
                         f"and {len(ref)} reference images")
    value = fid_statistics_to_metric(fid_features_to_statistics(gen), fid_features_to_statistics(ref),
                                     verbose=False)[KEY_METRIC_FID]
    return {"status": "ok", "value": float(value), "std": None, "std_method": "unavailable", "scale": 1,
            "n_generated": len(gen), "n_reference": len(ref), "flavour": flavour,
            "estimator": "Fréchet distance of Gaussian fits (torch-fidelity)", "small_sample_note": FID_NOTE,
            **extra}


def fused_fid(generated: torch.Tensor, source: torch.Tensor, target: torch.Tensor, options: KidOptions
              ) -> dict[str, Any]:
    src, tgt = _as_tensor(source), _as_tensor(target)
    return fid(generated, torch.cat([src, tgt]), options, "fused", reference_mix="union of source and target",
               n_source=len(src), n_target=len(tgt))
