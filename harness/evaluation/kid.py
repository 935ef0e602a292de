"""KID through torch-fidelity's KID maths: target-KID and the fused-KID candidates.

KID = unbiased polynomial-kernel MMD² (degree 3, γ = 1/d, coef0 1) between feature sets, averaged
over random subsets; the spread is the population std of the subset estimates (torch-fidelity's
convention, `std_kind`). Both are reported ×100 with the scale recorded.

Subset rule (recorded in every entry): subset size = min(100, n_generated, n_reference).
torch-fidelity's default of 1000 exceeds every CycleGAN-style test split (120–266 images) and
aborts, and a size equal to both set sizes makes every subset the whole set (std 0). 100 is
the common choice on these splits and fits all of them, so numbers stay comparable across
tasks. Sets smaller than `min_images` (default 10) are refused: the estimate is meaningless.

fused-KID (the paper does not pin it; `fused_mode`, recorded):
- `union_balanced` (default): each reference subset is ⌊m/2⌋ source + ⌈m/2⌉ target test images,
  the union reference of the third-party re-implementation the AGGAN protocol is known by;
- `union_proportional`: subsets drawn uniformly from the union of both real test sets;
- `mean_of_two`: the mean of KID-to-target and KID-to-source (mean and std averaged separately).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch

KID_SCALE = 100
STD_KIND = "population_std_over_subsets"
FUSED_MODES = ("union_balanced", "union_proportional", "mean_of_two")
DEFAULT_FUSED_MODE = "union_balanced"
SUBSET_RULE = "min({cap}, n_generated, n_reference)"


class KidRefused(ValueError):
    """The sets are too small for a meaningful KID; the message names the sizes."""


@dataclass(frozen=True)
class KidOptions:
    subsets: int = 100
    max_subset_size: int = 100
    subset_size: Optional[int] = None  # an explicit size; still never above the smaller set
    min_images: int = 10
    seed: int = 2020  # torch-fidelity's default rng seed
    fused_mode: str = DEFAULT_FUSED_MODE

    def __post_init__(self) -> None:
        if self.fused_mode not in FUSED_MODES:
            raise ValueError(f"fused_mode must be one of {', '.join(FUSED_MODES)}, not {self.fused_mode!r}")
        if self.subsets < 1 or self.max_subset_size < 2 or self.min_images < 2:
            raise ValueError("KID needs subsets >= 1, max_subset_size >= 2 and min_images >= 2")


def subset_size_for(n_generated: int, n_reference: int, options: KidOptions) -> int:
    """The subset size under the recorded rule, or `KidRefused` when a set is too small."""
    smaller = min(n_generated, n_reference)
    if smaller < options.min_images:
        raise KidRefused(f"KID needs at least {options.min_images} images per set; got {n_generated} generated "
                         f"and {n_reference} reference images")
    wanted = options.subset_size if options.subset_size is not None else options.max_subset_size
    return min(wanted, smaller)


def _as_tensor(features: torch.Tensor | np.ndarray) -> torch.Tensor:
    t = torch.as_tensor(features, dtype=torch.float64)
    if t.dim() != 2:
        raise ValueError(f"features must be N×D, got shape {tuple(t.shape)}")
    return t


def _entry(mean: float, std: float, m: int, n_gen: int, n_ref: int, options: KidOptions, flavour: str,
           **extra: Any) -> dict[str, Any]:
    return {"status": "ok", "value": mean * KID_SCALE, "std": std * KID_SCALE, "scale": KID_SCALE,
            "std_kind": STD_KIND, "n_generated": n_gen, "n_reference": n_ref, "subset_size": m,
            "subsets": options.subsets, "subset_rule": SUBSET_RULE.format(cap=options.subset_size or
                                                                          options.max_subset_size),
            "seed": options.seed, "flavour": flavour, "kernel": "poly(degree=3, gamma=1/d, coef0=1)",
            "estimator": "unbiased", **extra}


def kid(generated: torch.Tensor, reference: torch.Tensor, options: KidOptions, flavour: str = "target"
        ) -> dict[str, Any]:
    """KID ×100 of generated vs reference features via `torch_fidelity.metric_kid.kid_features_to_metric`."""
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric
    gen, ref = _as_tensor(generated), _as_tensor(reference)
    m = subset_size_for(len(gen), len(ref), options)
    out = kid_features_to_metric(gen, ref, kid_subsets=options.subsets, kid_subset_size=m, rng_seed=options.seed,
                                 verbose=False)
    return _entry(out[KEY_METRIC_KID_MEAN], out[KEY_METRIC_KID_STD], m, len(gen), len(ref), options, flavour)


def fused_kid(generated: torch.Tensor, source: torch.Tensor, target: torch.Tensor, options: KidOptions
              ) -> dict[str, Any]:
    """fused-KID ×100 under `options.fused_mode` (see the module docstring)."""
    gen, src, tgt = _as_tensor(generated), _as_tensor(source), _as_tensor(target)
    mode = options.fused_mode
    if mode == "union_proportional":
        entry = kid(gen, torch.cat([src, tgt]), options, flavour="fused")
        return {**entry, "fused_mode": mode, "n_source": len(src), "n_target": len(tgt)}
    if mode == "mean_of_two":
        to_target = kid(gen, tgt, options, "target")
        to_source = kid(gen, src, options, "source")
        mean = (to_target["value"] + to_source["value"]) / 2 / KID_SCALE
        std = (to_target["std"] + to_source["std"]) / 2 / KID_SCALE
        return _entry(mean, std, min(to_target["subset_size"], to_source["subset_size"]), len(gen),
                      len(src) + len(tgt), options, "fused", fused_mode=mode, n_source=len(src), n_target=len(tgt),
                      parts={"to_target": to_target["value"], "to_source": to_source["value"]})
    return _union_balanced(gen, src, tgt, options)


def _union_balanced(gen: torch.Tensor, src: torch.Tensor, tgt: torch.Tensor, options: KidOptions) -> dict[str, Any]:
    # torch-fidelity draws each reference subset uniformly from one set, so the balanced draw is
    # done here; each subset's MMD² is torch-fidelity's own `kernel_mmd`.
    from torch_fidelity.metric_kid import kernel_mmd
    m = subset_size_for(len(gen), len(src) + len(tgt), options)
    if min(len(src), len(tgt)) < options.min_images // 2:
        raise KidRefused(f"fused KID needs at least {options.min_images // 2} images of each real domain; got "
                         f"{len(src)} source and {len(tgt)} target images")
    m = min(m, 2 * len(src), 2 * len(tgt))  # ⌊m/2⌋ ≤ |src| and ⌈m/2⌉ ≤ |tgt|
    m_src, m_tgt = m // 2, m - m // 2
    rng = np.random.RandomState(options.seed)
    g, s, t = gen.numpy(), src.numpy(), tgt.numpy()
    estimates = np.zeros(options.subsets)
    for i in range(options.subsets):
        f_gen = g[rng.choice(len(g), m, replace=False)]
        f_ref = np.concatenate([s[rng.choice(len(s), m_src, replace=False)],
                                t[rng.choice(len(t), m_tgt, replace=False)]])
        estimates[i] = kernel_mmd(f_gen, f_ref)
    return _entry(float(np.mean(estimates)), float(np.std(estimates)), m, len(gen), len(src) + len(tgt), options,
                  "fused", fused_mode="union_balanced", n_source=len(src), n_target=len(tgt),
                  reference_mix=f"{m_src} source + {m_tgt} target per subset")
