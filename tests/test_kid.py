"""KID: parity with a direct evaluation of the unbiased estimator, subset rule, fused modes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.evaluation.kid import KidOptions, KidRefused, fused_kid, kid, subset_size_for


def direct_mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Bińkowski et al.'s unbiased MMD² with k(a, b) = (a·b/d + 1)³, written out term by term."""
    m, d = len(x), x.shape[1]

    def k(a, b):
        return (float(a @ b) / d + 1.0) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def direct_kid(gen: np.ndarray, ref: np.ndarray, subsets: int, m: int, seed: int) -> tuple[float, float]:
    # Same subsets as torch-fidelity: one RandomState, a generated draw then a reference draw per subset.
    rng = np.random.RandomState(seed)
    values = []
    for _ in range(subsets):
        a = gen[rng.choice(len(gen), m, replace=False)]
        b = ref[rng.choice(len(ref), m, replace=False)]
        values.append(direct_mmd2_unbiased(a, b))
    return float(np.mean(values)), float(np.std(values))


@pytest.fixture(scope="module")
def feats():
    rng = np.random.default_rng(7)
    gen = rng.normal(0.3, 1.0, size=(25, 8))
    ref = rng.normal(0.0, 1.0, size=(30, 8))
    src = rng.normal(-0.5, 1.2, size=(22, 8))
    return gen, ref, src


def test_kid_matches_direct_unbiased_estimator(feats):
    gen, ref, _ = feats
    options = KidOptions(subsets=5, max_subset_size=12, seed=3)
    entry = kid(torch.from_numpy(gen), torch.from_numpy(ref), options)
    mean, std = direct_kid(gen, ref, 5, 12, 3)
    assert entry["value"] == pytest.approx(mean * 100, rel=1e-9, abs=1e-12)
    assert entry["std"] == pytest.approx(std * 100, rel=1e-9, abs=1e-12)
    assert entry["scale"] == 100 and entry["subset_size"] == 12 and entry["subsets"] == 5
    assert entry["n_generated"] == 25 and entry["n_reference"] == 30
    assert entry["value"] > 0  # shifted distributions are told apart


def test_kid_of_identical_distributions_is_near_zero():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(60, 8)), rng.normal(size=(60, 8))
    far = rng.normal(2.0, 1.0, size=(60, 8))
    options = KidOptions(subsets=20, max_subset_size=40)
    same = kid(torch.from_numpy(a), torch.from_numpy(b), options)["value"]
    shifted = kid(torch.from_numpy(far), torch.from_numpy(b), options)["value"]
    assert abs(same) < shifted / 20


def test_subset_size_never_exceeds_the_smaller_set_and_small_sets_are_refused():
    options = KidOptions()
    assert subset_size_for(120, 140, options) == 100
    assert subset_size_for(16, 40, options) == 16
    assert subset_size_for(500, 500, KidOptions(subset_size=1000)) == 500  # torch-fidelity's 1000 would abort
    with pytest.raises(KidRefused, match="at least 10 images.*got 4 generated and 40 reference"):
        subset_size_for(4, 40, options)
    with pytest.raises(ValueError, match="fused_mode"):
        KidOptions(fused_mode="harmonic")


def test_fused_modes(feats):
    gen, ref, src = (torch.from_numpy(f) for f in feats)
    base = dict(subsets=4, max_subset_size=10, seed=1)
    mean_two = fused_kid(gen, src, ref, KidOptions(fused_mode="mean_of_two", **base))
    to_tgt = kid(gen, ref, KidOptions(**base))["value"]
    to_src = kid(gen, src, KidOptions(**base))["value"]
    assert mean_two["value"] == pytest.approx((to_tgt + to_src) / 2)
    prop = fused_kid(gen, src, ref, KidOptions(fused_mode="union_proportional", **base))
    assert prop["value"] == pytest.approx(kid(gen, torch.cat([src, ref]), KidOptions(**base))["value"])
    bal = fused_kid(gen, src, ref, KidOptions(fused_mode="union_balanced", **base))
    assert bal["reference_mix"] == "5 source + 5 target per subset"
    # The balanced draw, recomputed directly.
    rng = np.random.RandomState(1)
    g, s, t = feats[0], feats[2], feats[1]
    values = []
    for _ in range(4):
        a = g[rng.choice(len(g), 10, replace=False)]
        b = np.concatenate([s[rng.choice(len(s), 5, replace=False)], t[rng.choice(len(t), 5, replace=False)]])
        values.append(direct_mmd2_unbiased(a, b))
    assert bal["value"] == pytest.approx(np.mean(values) * 100, rel=1e-9)
    assert bal["std"] == pytest.approx(np.std(values) * 100, rel=1e-9, abs=1e-12)
    assert {bal["fused_mode"], prop["fused_mode"], mean_two["fused_mode"]} == {
        "union_balanced", "union_proportional", "mean_of_two"}


def test_spread_of_identical_subsets_is_a_bootstrap_over_images_never_a_degenerate_zero():
    rng = np.random.default_rng(3)
    gen, ref = torch.from_numpy(rng.normal(0.4, 1, (16, 8))), torch.from_numpy(rng.normal(0, 1, (16, 8)))
    entry = kid(gen, ref, KidOptions(subsets=50, seed=5))  # subset size 16 = both set sizes
    assert entry["subset_size"] == 16 and entry["std_method"] == "bootstrap_images"
    assert entry["bootstrap_resamples"] == 50
    assert entry["value"] == pytest.approx(direct_mmd2_unbiased(gen.numpy(), ref.numpy()) * 100, rel=1e-9)
    assert entry["std"] > 1e-3 * abs(entry["value"])  # a real spread, not ~1e-14
    # torch-fidelity's subsets would all be the whole set: its std is the degenerate ~0 this replaces
    from torch_fidelity.metric_kid import kid_features_to_metric
    degenerate = kid_features_to_metric(gen, ref, kid_subsets=50, kid_subset_size=16, verbose=False)
    assert degenerate["kernel_inception_distance_std"] < 1e-9
    # subsets that differ keep torch-fidelity's subset std
    wider = kid(gen, torch.cat([ref, ref + 0.1]), KidOptions(subsets=50, seed=5))
    assert wider["std_method"] == "subsets" and wider["std"] > 0
    # one subset: no spread at all, said so
    single = kid(gen, torch.cat([ref, ref + 0.1]), KidOptions(subsets=1))
    assert single["std"] is None and single["std_method"] == "unavailable"
    # fused, balanced: 8 + 8 of 8 + 8 real images with 16 generated ones is again one subset
    bal = fused_kid(gen, ref[:8], ref[8:], KidOptions(subsets=20))
    assert bal["std_method"] == "bootstrap_images" and bal["std"] > 0
    two = fused_kid(gen, ref, ref + 0.1, KidOptions(subsets=20, fused_mode="mean_of_two"))
    assert two["std_method"] == "bootstrap_images"


def test_fid_is_torch_fidelity_fid_of_the_same_features(feats):
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

    from harness.evaluation.fid import fid, fused_fid
    gen, ref, src = (torch.from_numpy(f) for f in feats)
    expected = fid_statistics_to_metric(fid_features_to_statistics(gen), fid_features_to_statistics(ref),
                                        verbose=False)["frechet_inception_distance"]
    entry = fid(gen, ref, KidOptions())
    assert entry["value"] == pytest.approx(expected, rel=1e-12) and entry["value"] > 0
    assert entry["std"] is None and entry["std_method"] == "unavailable"
    assert entry["n_generated"] == 25 and entry["n_reference"] == 30
    # Fréchet distance of Gaussian fits, written out (scipy's sqrtm) as an independent check
    from scipy import linalg
    g, r = feats[0], feats[1]
    mu_g, mu_r = g.mean(0), r.mean(0)
    s_g, s_r = np.cov(g, rowvar=False), np.cov(r, rowvar=False)
    direct = ((mu_g - mu_r) ** 2).sum() + np.trace(s_g + s_r - 2 * linalg.sqrtm(s_g @ s_r).real)
    assert entry["value"] == pytest.approx(direct, rel=1e-6)
    union = fused_fid(gen, src, ref, KidOptions())
    assert union["value"] == pytest.approx(fid(gen, torch.cat([src, ref]), KidOptions())["value"])
    assert union["n_reference"] == 52 and union["n_source"] == 22
    with pytest.raises(KidRefused, match="FID needs at least 10"):
        fid(gen[:5], ref, KidOptions())
