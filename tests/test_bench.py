"""`harness bench`: the reference re-implementation trains exactly like the harness CycleGAN, and
the command prints the speedup and throughput (tiny networks, so it runs in seconds)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from harness.bench import BenchConfig, bench_feature_extraction, bench_training_step, one_step_difference
from harness.cli import main

REPO = Path(__file__).resolve().parents[1]
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
    if torch.get_num_threads() == 1:  # CPU time per step is recorded beside wall time
        assert rec["harness_cpu_s"] > 0 and rec["speedup_cpu_time"] > 0
        assert len(rec["harness_block_cpu_s"]) == 2


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


def test_gpu_check_reduced_form_runs_on_the_cpu(tmp_path, capsys):
    from harness import gpu_check
    out_json = tmp_path / "check.json"
    assert gpu_check.main(["--quick", "--device", "cpu", "--json-out", str(out_json)]) == 0
    out = capsys.readouterr().out
    for line in ("PASS  device_setup", "PASS  one_step_equal_weights_fp32", "PASS  bf16_vs_fp32_10_steps",
                 "speedup", "2 run(s):", "feature extraction:"):
        assert line in out, out
    report = json.loads(out_json.read_text())
    assert [row["runs"] for row in report["concurrent_runs"]] == [1, 2]
    assert report["concurrent_runs"][1]["aggregate_images_per_s"] > 0
    assert report["step_speed"]["default"]["speedup"] > 0


def test_gpu_check_imports_and_trains_with_torch_alone(tmp_path):
    """A python that sees torch (and torch's own requirements) but none of this project's
    dependencies imports the check and runs one harness step."""
    site = Path(torch.__file__).resolve().parent.parent
    project_deps = {"numpy", "PIL", "yaml", "_yaml", "tqdm", "torch_fidelity", "submitit", "scipy", "sklearn",
                    "pandas", "tabulate", "datasets", "matplotlib", "torchvision", "harness", "pytest"}
    bare = tmp_path / "site"
    bare.mkdir()
    for entry in site.iterdir():
        name = entry.name.split(".")[0] if entry.suffix in (".py", "") else entry.name
        if name in project_deps or entry.name.endswith((".dist-info", ".pth")) or name.startswith("__editable__"):
            continue
        (bare / entry.name).symlink_to(entry)
    code = ("import sys; from harness.gpu_check import quick_config, few_steps; "
            "rec = few_steps(quick_config('cpu')); "
            "leaked = sorted(m for m in ('numpy', 'yaml', 'PIL', 'tqdm') if m in sys.modules); "
            "print(rec['status'], leaked)")
    env = {**os.environ, "PYTHONPATH": f"{bare}{os.pathsep}{REPO}", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "pass []"
