"""KID's `se` is calibrated: over many independent draws from a known distribution, the median
recorded `se` lies within 0.67–1.5× of the std of the reported mean across the draws (the truth).

Measured when written (200 draws per regime; ×100 KID units; `std` = the paper-convention spread):
    regime                                truth   std (ratio)      se (ratio)
    2048-d Gaussian 16 vs 16, shift 0     1.111   20.01 (18.0×)    1.225 (1.10×)
    2048-d Gaussian 16 vs 16, shift 0.3   2.198   21.20 (9.65×)    2.022 (0.92×)
    16-d non-negative 80 vs 80, shift 0   3.390   6.287 (1.85×)    2.910 (0.86×)
    16-d non-negative 80 vs 80, shift 0.3 20.62   22.58 (1.09×)    19.72 (0.96×)
    16-d non-neg. 120 vs 140, m=100, 0    2.317   1.575 (0.68×)    2.063 (0.89×)
    16-d non-neg. 120 vs 140, m=100, 0.3  16.77   8.379 (0.50×)    15.42 (0.92×)
(The uncorrected delete-one jackknife gave 1.56×, 1.10×, 1.22×, 0.99×, 1.25×, 0.94×.)
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.evaluation.kid import KidOptions, fused_kid, kid
from harness.evaluation.kid_se import mmd2_delete_one

DRAWS = 100


def gaussian(rng: np.random.Generator, n: int, dim: int, shift: float) -> np.ndarray:
    return rng.standard_normal((n, dim)) + shift


def non_negative(rng: np.random.Generator, n: int, dim: int, shift: float) -> np.ndarray:
    """Correlated, non-negative features (a shared per-image factor, then a ReLU), like pooled CNN features."""
    return np.maximum(rng.standard_normal((n, dim)) + 0.5 * rng.standard_normal((n, 1)) + shift, 0.0)


REGIMES = {
    "2048d-16v16-same": (gaussian, 2048, 16, 16, 0.0, 2),
    "2048d-16v16-shifted": (gaussian, 2048, 16, 16, 0.3, 2),
    "16d-80v80-same": (non_negative, 16, 80, 80, 0.0, 2),
    "16d-80v80-shifted": (non_negative, 16, 80, 80, 0.3, 2),
    "16d-120v140-subsets-same": (non_negative, 16, 120, 140, 0.0, 20),
    "16d-120v140-subsets-shifted": (non_negative, 16, 120, 140, 0.3, 20),
}


@pytest.mark.parametrize("regime", sorted(REGIMES))
def test_kid_se_matches_the_sampling_spread_of_the_reported_mean(regime):
    draw, dim, n_gen, n_ref, shift, subsets = REGIMES[regime]
    rng = np.random.default_rng(7)
    options = KidOptions(subsets=subsets)  # whole-set cases: the bootstrap `std` is not under test, keep it cheap
    means, ses = [], []
    for _ in range(DRAWS):
        entry = kid(torch.from_numpy(draw(rng, n_gen, dim, 0.0)), torch.from_numpy(draw(rng, n_ref, dim, shift)),
                    options)
        means.append(entry["value"])
        ses.append(entry["se"])
    truth = float(np.std(means, ddof=1))
    ratio = float(np.median(ses)) / truth
    expected_method = "jackknife_images_corrected" + ("+subset_noise" if n_gen != n_ref else "")
    assert entry["se_method"] == expected_method
    assert 0.67 <= ratio <= 1.5, f"{regime}: median se {np.median(ses):.4g} vs truth {truth:.4g} ({ratio:.2f}×)"


def test_delete_one_values_equal_recomputing_without_the_image():
    rng = np.random.default_rng(1)
    x, y = non_negative(rng, 9, 5, 0.0), non_negative(rng, 11, 5, 0.2)
    closed = mmd2_delete_one(x, y)

    def direct(a, b):
        return mmd2_delete_one(a, b).value

    assert closed.without_x == pytest.approx([direct(np.delete(x, i, 0), y) for i in range(len(x))], rel=1e-9)
    assert closed.without_y == pytest.approx([direct(x, np.delete(y, j, 0)) for j in range(len(y))], rel=1e-9)
    # equal sizes: the same number torch-fidelity reports for the whole sets
    from torch_fidelity.metric_kid import kernel_mmd
    assert mmd2_delete_one(x, y[:9]).value == pytest.approx(float(kernel_mmd(x, y[:9])), rel=1e-9)


def test_every_kid_flavour_records_se_beside_the_unchanged_std():
    rng = np.random.default_rng(3)
    gen, src, tgt = (torch.from_numpy(non_negative(rng, n, 8, s)) for n, s in ((40, 0.1), (30, 0.0), (50, 0.3)))
    options = KidOptions(subsets=10, max_subset_size=20)
    for mode in ("union_balanced", "union_proportional", "mean_of_two"):
        entry = fused_kid(gen, src, tgt, KidOptions(subsets=10, max_subset_size=20, fused_mode=mode))
        assert entry["se"] > 0 and entry["se_method"] != "unavailable", mode
    single = kid(gen, tgt, KidOptions(subsets=1, max_subset_size=20))
    assert single["se"] is None and single["se_method"] == "unavailable"
    entry = kid(gen, tgt, options)
    assert entry["std_method"] == "subsets" and entry["se"] > 0
