"""What the attention maps look like as a set: a frame at the border, one fixed pattern, mode drift.

Figures over all test maps of one direction (maps on the memory grid, values as G gets them):
- border-to-interior ratio: mean of the map over a border band divided by the mean inside it, on
  the map resized to the image (bilinear, as the fixed transfer block does). The band is 2 pixels
  wide at 64 px and scales with the image (8 px at 256). A learned bright frame gives ratios well
  above 1 whatever the image shows; `framed_share` is the share of maps with a ratio above 1.5;
- pairwise correlation: the mean Pearson correlation between the maps of different images (1 = one
  fixed pattern whatever the input, 0 = unrelated maps); flat maps have none and are left out;
- train-mode correlation: per image, the correlation of the test-time map with the map the same
  networks give in training mode (BatchNorm on batch statistics), averaged.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

FRAME_RATIO = 1.5  # a map brighter than this at its border than inside counts as "framed"


def border_width(image_size: int) -> int:
    """2 pixels at 64 px, scaled with the image side (at least 1)."""
    return max(1, round(2 * image_size / 64))


def border_interior_ratios(maps: torch.Tensor, image_size: int, eps: float = 1e-6) -> torch.Tensor:
    """(N,) mean over the border band / mean over the interior of each (N, 1, h, w) map."""
    full = F.interpolate(maps.float(), size=(image_size, image_size), mode="bilinear", align_corners=False)[:, 0]
    b = border_width(image_size)
    inside = torch.zeros(image_size, image_size, dtype=torch.bool)
    inside[b:image_size - b, b:image_size - b] = True
    border_mean = full[:, ~inside].mean(1)
    interior_mean = full[:, inside].mean(1)
    return border_mean / interior_mean.clamp_min(eps)


def _standardised(maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of flattened maps with mean 0 and norm 1, and which maps are not flat."""
    flat = maps.float().flatten(1)
    centred = flat - flat.mean(1, keepdim=True)
    norm = centred.norm(dim=1, keepdim=True)
    varied = norm[:, 0] > 1e-6 * max(1.0, float(flat.abs().max()) if flat.numel() else 1.0)
    return centred / norm.clamp_min(1e-12), varied


def mean_pairwise_correlation(maps: torch.Tensor) -> Optional[float]:
    """Mean correlation over all pairs of different, non-flat maps; None with fewer than two."""
    rows, varied = _standardised(maps)
    rows = rows[varied]
    n = rows.shape[0]
    if n < 2:
        return None
    corr = rows @ rows.T
    return float((corr.sum() - corr.diagonal().sum()) / (n * (n - 1)))


def paired_correlation(a: torch.Tensor, b: torch.Tensor) -> Optional[float]:
    """Mean correlation of a[i] with b[i] over the pairs where both are not flat."""
    ra, va = _standardised(a)
    rb, vb = _standardised(b)
    both = va & vb
    if not bool(both.any()):
        return None
    return float((ra[both] * rb[both]).sum(1).mean())


def structure(maps: torch.Tensor, image_size: int, train_mode_maps: Optional[torch.Tensor] = None) -> dict:
    """The map-structure block of one direction (see the module docstring)."""
    if maps.shape[0] == 0:
        return {}
    ratios = border_interior_ratios(maps, image_size)
    flat = maps.float().flatten(1)
    out = {"border_px": border_width(image_size),
           "border_interior_ratio": float(ratios.mean()),
           "framed_share": float((ratios > FRAME_RATIO).float().mean()),
           "border_mean": None, "interior_mean": None,
           "pairwise_correlation": mean_pairwise_correlation(maps),
           "flat_maps": int((~_standardised(maps)[1]).sum()),
           "test_map_spread": float(flat.std(1, unbiased=False).mean()),
           "train_mode_correlation": None if train_mode_maps is None else paired_correlation(maps, train_mode_maps)}
    full = F.interpolate(maps.float(), size=(image_size, image_size), mode="bilinear", align_corners=False)[:, 0]
    b = border_width(image_size)
    inside = torch.zeros(image_size, image_size, dtype=torch.bool)
    inside[b:image_size - b, b:image_size - b] = True
    out["border_mean"] = float(full[:, ~inside].mean())
    out["interior_mean"] = float(full[:, inside].mean())
    return out
