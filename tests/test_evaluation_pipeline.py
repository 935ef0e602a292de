"""The evaluation stage end to end on the demo task: KID through torch-fidelity with a test-only
extractor, the feature cache, KID unavailable without Inception weights, the FCN score with its
ceiling, and the `harness evaluate` command."""
from __future__ import annotations

import json

import pytest

from eval_helpers import FORWARD_CALLS, dump, fake_run, identity, perfect, render_segmenter, tiny_extractor
from harness.evaluation import EvalOptions, KidOptions, evaluate_run


@pytest.fixture()
def isolated(tmp_path, monkeypatch):
    """No Inception weights anywhere, and a private feature cache."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv("HARNESS_INCEPTION_WEIGHTS", raising=False)
    return tmp_path


def test_kid_through_torch_fidelity_and_the_feature_cache(isolated):
    run_dir, result, prepared = fake_run(isolated / "runs", identity)
    with tiny_extractor() as name:
        options = EvalOptions(extractor=name, cache_root=str(isolated / "cache"))
        before = FORWARD_CALLS["n"]
        metrics = evaluate_run(run_dir, result, prepared, options)
        first_calls = FORWARD_CALLS["n"] - before
        assert metrics["status"] == "evaluated", dump(metrics)
        for direction in ("A2B", "B2A"):
            entry = metrics["directions"][direction]["target_kid_x100"]
            assert entry["status"] == "ok" and entry["extractor"] == name and entry["for_leaderboards"] is False
            assert entry["subset_size"] == 16 == entry["n_generated"] == entry["n_reference"]
            assert entry["scale"] == 100 and entry["flavour"] == "target"
            fused = metrics["directions"][direction]["fused_kid_x100"]
            assert fused["fused_mode"] == "union_balanced" and fused["n_reference"] == 32
        # identity translations are the source domain: far from the target, close to themselves
        assert metrics["directions"]["A2B"]["target_kid_x100"]["value"] > 1.0
        assert first_calls > 0
        # A second evaluation of the same run reads every feature from the caches: no extractor pass.
        before = FORWARD_CALLS["n"]
        again = evaluate_run(run_dir, result, prepared, options)
        assert FORWARD_CALLS["n"] == before
        assert again["directions"]["A2B"]["target_kid_x100"]["value"] == \
            metrics["directions"]["A2B"]["target_kid_x100"]["value"]
        # Another run on the same data reuses the real-image features: only its own images are extracted.
        other_dir, _, _ = fake_run(isolated / "other", perfect)
        before = FORWARD_CALLS["n"]
        better = evaluate_run(other_dir, result, prepared, options)
        assert 0 < FORWARD_CALLS["n"] - before < first_calls
        assert better["directions"]["A2B"]["target_kid_x100"]["value"] < \
            metrics["directions"]["A2B"]["target_kid_x100"]["value"]


def test_too_small_sets_are_refused_with_the_sizes(isolated):
    run_dir, result, prepared = fake_run(isolated / "runs", identity)
    with tiny_extractor() as name:
        options = EvalOptions(extractor=name, cache_root=str(isolated / "cache"), kid=KidOptions(min_images=20),
                              metrics=("target_kid",))
        metrics = evaluate_run(run_dir, result, prepared, options)
    entry = metrics["directions"]["A2B"]["target_kid_x100"]
    assert entry["status"] == "unavailable" and "16 generated and 16 reference" in entry["reason"]
    assert metrics["status"] == "not_evaluated"


def test_kid_is_unavailable_with_the_fix_when_inception_weights_are_missing(isolated):
    run_dir, result, prepared = fake_run(isolated / "runs", identity)
    metrics = evaluate_run(run_dir, result, prepared, EvalOptions(cache_root=str(isolated / "cache")))
    entry = metrics["directions"]["A2B"]["target_kid_x100"]
    assert entry["status"] == "unavailable"
    assert "Inception weights not found" in entry["reason"] and "HARNESS_INCEPTION_WEIGHTS" in entry["reason"]
    assert "value" not in entry
    bad = isolated / "weights-inception-2015-12-05-6726825d.pth"
    bad.write_bytes(b"some other network")
    metrics = evaluate_run(run_dir, result, prepared,
                           EvalOptions(inception_weights=str(bad), cache_root=str(isolated / "cache")))
    reason = metrics["directions"]["B2A"]["fused_kid_x100"]["reason"]
    # a mismatch names both full hashes
    assert "expected 6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2" in reason
    from harness.io import sha256_file
    assert sha256_file(bad) in reason
    assert metrics["directions"]["B2A"]["fused_fid"]["reason"] == reason


def test_fcn_score_with_palette_mapping_segmenter_and_ceiling(isolated):
    # demo: A = "shape" colour label maps (Cityscapes person/car colours), B = renders.
    run_dir, result, prepared = fake_run(isolated / "runs", perfect)
    with render_segmenter() as seg:
        options = EvalOptions(metrics=("fcn_score",), label_side="A", segmenter=seg,
                              cache_root=str(isolated / "cache"))
        metrics = evaluate_run(run_dir, result, prepared, options)
    photo2label = metrics["directions"]["B2A"]  # render → shape: nearest palette colour, no segmenter
    assert photo2label["fcn_per_pixel_acc"]["value"] == pytest.approx(1.0)
    assert photo2label["fcn_mean_iou"]["mode"] == "photo2label"
    label2photo = metrics["directions"]["A2B"]
    acc = label2photo["fcn_per_pixel_acc"]
    assert acc["segmenter"] == seg and acc["metric_id"] == f"fcn-score@{seg}/v1"
    # perfect translations are the real photos, so the score equals the segmenter's ceiling
    assert acc["value"] == pytest.approx(acc["ceiling"]) and acc["value"] > 0.9
    assert metrics["ceilings"]["fcn"]["per_pixel_acc"] == pytest.approx(acc["ceiling"])


def test_demo_run_end_to_end_and_harness_evaluate(isolated, capsys):
    from harness.cli import main
    from harness.pipeline import RunSpec, execute
    run_dir = execute(RunSpec("demo", "identity", "smoke", 0, "cpu", None, str(isolated / "results")))
    result = json.loads((run_dir / "result.json").read_text())
    entry = result["metrics"]["directions"]["A2B"]["target_kid_x100"]
    assert entry["status"] == "unavailable" and "fix:" in entry["reason"]
    with tiny_extractor() as name:
        assert main(["evaluate", str(run_dir), "--extractor", name]) == 0
        rewritten = json.loads((run_dir / "result.json").read_text())
        assert rewritten["metrics"]["directions"]["B2A"]["target_kid_x100"]["status"] == "ok"
        assert rewritten["run"] == result["run"]  # only the metrics change
        capsys.readouterr()
        gen, ref = run_dir / "translations" / "A2B", run_dir / "translations" / "B2A"
        assert main(["evaluate", "--generated", str(gen), "--reference", str(ref), "--extractor", name]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["target_kid_x100"]["status"] == "ok" and out["target_kid_x100"]["subset_size"] == 16


def test_real_vs_real_reference_row(isolated, capsys):
    from harness.cli import main
    with tiny_extractor() as name:
        args = ["evaluate", "--reference-rows", "--task", "demo", "--out", str(isolated / "results"),
                "--extractor", name, "--schedule", "smoke"]
        assert main(args) == 0
        path = isolated / "results" / "demo" / "real-vs-real" / "smoke-seed0" / "result.json"
        row = json.loads(path.read_text())
        # 8 vs 8 images is below the default minimum of 10: refused, with the sizes
        assert "8 generated and 8 reference" in row["metrics"]["directions"]["A2B"]["target_kid_x100"]["reason"]
        assert main(args + ["--kid-min-images", "8"]) == 0
    row = json.loads(path.read_text())
    assert row["method"] == "real-vs-real" and row["reference_row"] is True
    entry = row["metrics"]["directions"]["A2B"]["target_kid_x100"]
    assert entry["status"] == "ok" and entry["n_generated"] == 8 and entry["n_reference"] == 8
    assert entry["subset_size"] == 8
    fused = row["metrics"]["directions"]["B2A"]["fused_kid_x100"]
    assert fused["n_source"] == 16 and fused["n_target"] == 8
