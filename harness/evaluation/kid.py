"""KID through torch-fidelity's KID maths: target-KID and the fused-KID candidates.

KID = unbiased polynomial-kernel MMD² (degree 3, γ = 1/d, coef0 1) between feature sets, averaged
over random subsets. Both are reported ×100 with the scale recorded.

Spread (`std`, `std_method`, recorded in every entry): the population std of the subset estimates
(torch-fidelity's convention; `std_method: "subsets"`) when the subsets differ. When the subset
size equals every set's size (e.g. 80 vs 80 images), every subset is the whole set and that std is
a meaningless ~1e-14; the value is then the full-set estimate and the spread is the std of the same
estimate over `subsets` bootstrap resamples of the images (with replacement, seeded;
`std_method: "bootstrap_images"`). Duplicated images in a resample add exact self-pairs to the
within-set kernel sums, so the resampled estimates sit above the full-set one; their std is a
spread, not a confidence interval. `std: null` with `std_method: "unavailable"` when neither
applies (e.g. `subsets` = 1).

Standard error (`se`, `se_method`, recorded in every entry): the uncertainty of the reported `mean`
itself, which neither `std` measures (see kid_se.py: the subsets' std under-states it, the bootstrap
over-states it many times). It is a delete-one jackknife over images, corrected for its second-order
excess, plus the subset-averaging noise when the mean averages subsets; calibrated against the true
sampling spread in tests/test_kid_se_calibration.py. The leaderboards' closeness marks use `se`.

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
from typing import Any, Callable, Optional

import numpy as np
import torch

from harness.evaluation.kid_se import SE_METHOD_SUBSETS, SE_METHOD_WHOLE_SET, kid_se

KID_SCALE = 100
STD_KIND = "population_std_over_subsets"
STD_METHODS = ("subsets", "bootstrap_images", "unavailable")
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


def _entry(mean: float, std: Optional[float], m: int, n_gen: int, n_ref: int, options: KidOptions, flavour: str,
           std_method: str = "subsets", se: Optional[float] = None, se_method: str = "unavailable",
           **extra: Any) -> dict[str, Any]:
    if std is None:
        std_method = "unavailable"
    return {"status": "ok", "value": mean * KID_SCALE, "std": None if std is None else std * KID_SCALE,
            "std_method": std_method, "se": None if se is None else se * KID_SCALE,
            "se_method": se_method if se is not None else "unavailable", "scale": KID_SCALE,
            "std_kind": STD_KIND if std_method == "subsets" else std_method, "n_generated": n_gen,
            "n_reference": n_ref, "subset_size": m, "subsets": options.subsets,
            "subset_rule": SUBSET_RULE.format(cap=options.subset_size or options.max_subset_size),
            "seed": options.seed, "flavour": flavour, "kernel": "poly(degree=3, gamma=1/d, coef0=1)",
            "estimator": "unbiased", **extra}


def _bootstrap_std(estimate: Callable[..., float], sets: list[np.ndarray], options: KidOptions) -> Optional[float]:
    """std of `estimate(*resampled sets)` over `options.subsets` resamples of each set's images."""
    if options.subsets < 2:
        return None
    rng = np.random.RandomState(options.seed)
    values = [estimate(*(s[rng.randint(0, len(s), len(s))] for s in sets)) for _ in range(options.subsets)]
    return float(np.std(values))


def kid(generated: torch.Tensor, reference: torch.Tensor, options: KidOptions, flavour: str = "target"
        ) -> dict[str, Any]:
    """KID ×100 of generated vs reference features via torch-fidelity (`kid_features_to_metric`, or its
    `kernel_mmd` on the whole sets when every subset would be the whole set)."""
    from torch_fidelity.metric_kid import (KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kernel_mmd,
                                           kid_features_to_metric)
    gen, ref = _as_tensor(generated), _as_tensor(reference)
    m = subset_size_for(len(gen), len(ref), options)
    if m == len(gen) == len(ref):  # identical subsets: one estimate, spread by bootstrap
        g, r = gen.numpy(), ref.numpy()
        std = _bootstrap_std(kernel_mmd, [g, r], options)
        return _entry(float(kernel_mmd(g, r)), std, m, len(gen), len(ref), options, flavour, "bootstrap_images",
                      kid_se(g, r), SE_METHOD_WHOLE_SET, bootstrap_resamples=options.subsets)
    out = kid_features_to_metric(gen, ref, kid_subsets=options.subsets, kid_subset_size=m, rng_seed=options.seed,
                                 verbose=False)
    std = out[KEY_METRIC_KID_STD] if options.subsets > 1 else None
    se = kid_se(gen.numpy(), ref.numpy(), out[KEY_METRIC_KID_STD], options.subsets) if options.subsets > 1 else None
    return _entry(out[KEY_METRIC_KID_MEAN], std, m, len(gen), len(ref), options, flavour, se=se,
                  se_method=SE_METHOD_SUBSETS)


def _combined_std_method(*methods: str) -> str:
    if "unavailable" in methods:
        return "unavailable"
    return methods[0] if len(set(methods)) == 1 else "+".join(sorted(set(methods)))


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
        method = _combined_std_method(to_target["std_method"], to_source["std_method"])
        std = None if method == "unavailable" else (to_target["std"] + to_source["std"]) / 2 / KID_SCALE
        # both parts share the generated images, so their errors correlate: the mean of the two se is
        # an upper bound (exact under full correlation)
        se = (to_target["se"] + to_source["se"]) / 2 / KID_SCALE
        return _entry(mean, std, min(to_target["subset_size"], to_source["subset_size"]), len(gen),
                      len(src) + len(tgt), options, "fused", method, se,
                      f"mean of the two parts' se ({to_target['se_method']}; an upper bound)", fused_mode=mode,
                      n_source=len(src),
                      n_target=len(tgt), parts={"to_target": to_target["value"], "to_source": to_source["value"]})
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
    g, s, t = gen.numpy(), src.numpy(), tgt.numpy()
    extra = {"fused_mode": "union_balanced", "n_source": len(src), "n_target": len(tgt),
             "reference_mix": f"{m_src} source + {m_tgt} target per subset"}
    if (m, m_src, m_tgt) == (len(g), len(s), len(t)):  # identical subsets: one estimate, spread by bootstrap
        def estimate(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
            return float(kernel_mmd(a, np.concatenate([b, c])))
        std = _bootstrap_std(estimate, [g, s, t], options)
        return _entry(estimate(g, s, t), std, m, len(gen), len(src) + len(tgt), options, "fused", "bootstrap_images",
                      kid_se(g, np.concatenate([s, t])), SE_METHOD_WHOLE_SET, bootstrap_resamples=options.subsets,
                      **extra)
    rng = np.random.RandomState(options.seed)
    estimates = np.zeros(options.subsets)
    for i in range(options.subsets):
        f_gen = g[rng.choice(len(g), m, replace=False)]
        f_ref = np.concatenate([s[rng.choice(len(s), m_src, replace=False)],
                                t[rng.choice(len(t), m_tgt, replace=False)]])
        estimates[i] = kernel_mmd(f_gen, f_ref)
    std = float(np.std(estimates)) if options.subsets > 1 else None
    # the jackknife treats the union as one reference set (the subsets stratify it; a close approximation)
    se = kid_se(g, np.concatenate([s, t]), float(np.std(estimates)), options.subsets) if options.subsets > 1 else None
    return _entry(float(np.mean(estimates)), std, m, len(gen), len(src) + len(tgt), options, "fused", se=se,
                  se_method=SE_METHOD_SUBSETS, **extra)
