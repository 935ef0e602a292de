"""`harness bench`: the reference re-implementation trains exactly like the harness CycleGAN, and
the command prints the speedup and throughput (tiny networks, so it runs in seconds)."""
from __future__ import annotations

import torch

from harness.bench import BenchConfig, bench_feature_extraction, bench_training_step, one_step_difference
from harness.cli import main

TINY = BenchConfig(image_size=32, ngf=4, ndf=4, n_blocks=1, warmup=1, iters=2, rounds=2, device="cpu")


def test_reference_step_matches_the_harness_step_from_equal_weights():
    # Same losses, same update order; only the float summation order of the two D backward
    # passes differs, so the weights agree to rounding after one Adam step (lr 2e-4).
    assert one_step_difference(TINY) < 1e-6


def test_reference_step_without_identity_also_matches():
    from dataclasses import replace
    assert one_step_difference(replace(TINY, lambda_identity=0.0)) < 1e-6


def test_training_benchmark_reports_consistent_numbers():
    rec = bench_training_step(TINY)
    assert rec["reference_step_s"] > 0 and rec["harness_step_s"] > 0
    assert abs(rec["harness_images_per_s"] - 1 / rec["harness_step_s"]) < 1e-9
    assert len(rec["reference_block_s"]) == len(rec["harness_block_s"]) == 2
    assert rec["device_setup"]["type"] == "cpu"


def test_bench_command_prints_speedup(capsys):
    before = torch.get_num_threads()
    try:
        assert main(["bench", "--device", "cpu", "--image-size", "32", "--ngf", "4", "--ndf", "4", "--n-blocks", "1",
                     "--warmup", "0", "--iters", "1", "--rounds", "2"]) == 0
    finally:
        torch.set_num_threads(before)
    out = capsys.readouterr().out
    assert "speedup: " in out and "images/s" in out
    float(out.split("speedup: ")[1].split()[0])


def test_eval_mode_skips_or_measures(capsys):
    rec = bench_feature_extraction(n_images=4, image_size=32, device="cpu")
    if rec["status"] == "skipped":
        assert rec["reason"]
    else:
        assert rec["features_per_s"] > 0 and rec["cache_hit"]
    assert main(["bench", "eval", "--device", "cpu", "--n-images", "4", "--image-size", "32"]) == 0
    out = capsys.readouterr().out
    assert "skipped" in out or "features/s" in out
