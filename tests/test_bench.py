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


def test_gpu_check_reduced_form_runs_on_the_cpu_in_one_process(tmp_path, capsys):
    """Every section but the concurrent runs (their worker processes are covered by the kill test)."""
    from harness import gpu_check
    out_json = tmp_path / "check.json"
    assert gpu_check.main(["--quick", "--device", "cpu", "--sections", "tests,speed,memory_format,features",
                           "--json-out", str(out_json)]) == 0
    out = capsys.readouterr().out
    for line in ("PASS  device_setup", "PASS  one_step_equal_weights_fp32", "PASS  bf16_vs_fp32_10_steps",
                 "speedup", "unet_generator", "feature extraction:", "suggested defaults"):
        assert line in out, out
    report = json.loads(out_json.read_text())
    assert report["step_speed"]["default"]["speedup"] > 0
    assert set(report["memory_format"]) == {"resnet_generator", "unet_generator", "patchgan_discriminator"}
    assert all(r["faster"] in ("channels_last", "contiguous") for r in report["memory_format"].values())
    assert all(sec["status"] == "done" for sec in report["sections"].values()), report["sections"]
    assert all(not sec["isolated"] for sec in report["sections"].values())


def test_gpu_check_exits_non_zero_only_for_a_failed_correctness_test(tmp_path, monkeypatch, capsys):
    from harness import gpu_check

    def broken(cfg):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(gpu_check, "equal_weights_test", broken)
    monkeypatch.setattr(gpu_check, "bf16_agreement", lambda cfg, steps: {"status": "pass"})
    assert gpu_check.main(["--quick", "--device", "cpu", "--sections", "tests",
                           "--json-out", str(tmp_path / "r.json")]) == 1
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["tests"]["one_step_equal_weights_fp32"]["status"] == "fail"
    assert "illegal memory access" in report["tests"]["one_step_equal_weights_fp32"]["error"]
    assert report["tests"]["bf16_vs_fp32_10_steps"]["status"] == "pass"  # the other tests still ran
    assert "FAIL  one_step_equal_weights_fp32" in capsys.readouterr().out


def test_a_section_past_its_time_limit_is_stopped_and_the_check_goes_on(tmp_path):
    import time as time_module

    from harness.check_sections import CheckReport
    report = CheckReport(tmp_path / "r.json", {})
    status, payload = report.run("sleeper", time_module.sleep, (30,), limit_s=0.5)
    assert status == "timed out" and "time limit" in payload["error"]
    status, payload = report.run("after", lambda: {"ok": 1}, limit_s=5)
    assert (status, payload) == ("done", {"ok": 1})
    on_disk = json.loads((tmp_path / "r.json").read_text())["sections"]
    assert on_disk["sleeper"]["status"] == "timed out" and on_disk["after"]["status"] == "done"


def test_gpu_check_with_a_killed_worker_ends_quickly_with_a_partial_report(tmp_path):
    """K=1 is measured; then a concurrent-run worker of K=2 is killed mid-section (as an OOM or CUDA error kills one): its siblings
    are stopped, the failure is reported, and the check ends well within 60 s with the report on disk."""
    import signal
    import time as time_module
    out_json = tmp_path / "check.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "harness.gpu_check", "--quick", "--device", "cpu",
                             "--sections", "concurrent", "--concurrent", "1,2", "--json-out", str(out_json)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        workers = _wait_for_workers(proc.pid, 2, time_module.monotonic() + 300)
        os.kill(workers[0], signal.SIGKILL)
        killed_at = time_module.monotonic()
        out, _ = proc.communicate(timeout=60)
        assert time_module.monotonic() - killed_at < 60
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out  # a dead worker is a measurement failure, not a failed correctness test
    report = json.loads(out_json.read_text())
    single, row = report["concurrent_runs"]
    assert single["runs"] == 1 and single["aggregate_images_per_s"] > 0 and single["vs_single_run"] == 1
    assert row["runs"] == 2 and row["status"] == "failed" and "died" in row["error"] and "SIGKILL" in row["error"]
    assert report["sections"]["concurrent K=2"]["status"] == "failed"
    assert "2 run(s)" in out and "failed" in out
    assert _children(proc.pid) == []  # no worker left behind


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def _wait_for_workers(pid: int, count: int, deadline: float) -> list[int]:
    """The check's spawned worker processes (not multiprocessing's resource tracker)."""
    import time as time_module
    while time_module.monotonic() < deadline:
        workers = []
        for child in _children(pid):
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in cmdline:
                workers.append(child)
        if len(workers) >= count:
            return workers
        time_module.sleep(0.2)
    raise AssertionError("the check's workers did not start")


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
