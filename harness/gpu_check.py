"""The GPU check: `PYTHONPATH=. python -m harness.gpu_check` from a checkout, on a machine with a
recent torch and nothing else of this project installed (no numpy, Pillow, PyYAML, tqdm,
torch-fidelity needed: what needs a missing optional package is reported as skipped).

It prints, and writes as JSON with `--json-out`:
  * CUDA tests: the device setup, harness vs reference step from equal weights (fp32), bf16
    vs fp32 losses over 100 steps, and each speed option training without error;
  * the training-step speedup against the reference step at 256 px, for the default step and
    each speed option (fused Adam, torch.compile default and reduce-overhead);
  * images/s of 1, 2, 4 and 8 concurrent runs on one GPU (one process each; the aggregate is
    what a grid with K runs per GPU gets) and each run's peak memory;
  * feature-extraction throughput (skipped without torch-fidelity or its weights).
`--quick` is the reduced form CI runs on the CPU (tiny networks, 32 px, runs 1 and 2).
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
import multiprocessing
import platform
import sys
import time
from datetime import datetime, timezone
from typing import Any, Optional

import torch

from harness.bench import (BenchConfig, bench_feature_extraction, bench_training_step, build_harness, make_batches,
                           one_step_difference, prepare)
from harness.training.step import LossTracker, train_step

OPTIONAL = ("numpy", "PIL", "yaml", "tqdm", "torch_fidelity", "submitit")
SPEED_OPTIONS = {"fused_adam": {"fused_adam": True}, "compile": {"compile": True},
                 "compile_reduce_overhead": {"compile": True, "compile_mode": "reduce-overhead"}}
BF16_REL_TOL = 0.10  # mean loss over the steps, bf16 vs fp32 (same weights and batches)


def full_config(device: str) -> BenchConfig:
    return BenchConfig(image_size=256, device=device, warmup=5, iters=20, rounds=4)


def quick_config(device: str) -> BenchConfig:
    return BenchConfig(image_size=32, ngf=4, ndf=4, n_blocks=1, device=device, warmup=1, iters=2, rounds=2)


# ---- tests ---------------------------------------------------------------------------------------
def losses_over_steps(cfg: BenchConfig, amp: bool, steps: int) -> dict[str, float]:
    """Mean of each loss over `steps` steps from the seed's weights and batches, fp32 or bf16."""
    method, device = build_harness(dataclasses.replace(cfg, amp=amp))
    method = prepare(method, device)
    tracker = LossTracker(device.device)
    cpu_bf16 = amp and not device.is_cuda  # the reduced CPU form: torch's CPU autocast stands in
    for batch in make_batches(cfg, steps):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cpu_bf16):
            tracker.add(train_step(method, device, batch))
    return tracker.pop_means()


def bf16_agreement(cfg: BenchConfig, steps: int) -> dict[str, Any]:
    fp32, bf16 = losses_over_steps(cfg, False, steps), losses_over_steps(cfg, True, steps)
    rel = {k: abs(bf16[k] - fp32[k]) / max(abs(fp32[k]), 1e-8) for k in fp32}
    ok = all(math.isfinite(v) for v in [*fp32.values(), *bf16.values()]) and max(rel.values()) <= BF16_REL_TOL
    return {"status": "pass" if ok else "fail", "steps": steps, "fp32_mean_losses": fp32,
            "bf16_mean_losses": bf16, "relative_difference": rel, "tolerance": BF16_REL_TOL}


def run_tests(cfg: BenchConfig, bf16_steps: int) -> dict[str, Any]:
    tests: dict[str, Any] = {}

    def record(name: str, fn) -> None:
        try:
            tests[name] = fn()
        except Exception as exc:  # a failing test is a result, not the end of the check
            tests[name] = {"status": "fail", "error": f"{type(exc).__name__}: {exc}"[:500]}

    def setup() -> dict[str, Any]:
        _, device = build_harness(cfg)
        rec = device.record()
        want_cuda = {"amp_dtype": "torch.bfloat16", "channels_last": True, "cudnn_benchmark": True}
        ok = not device.is_cuda or all(rec.get(k) == v for k, v in want_cuda.items())
        return {"status": "pass" if ok else "fail", "device_setup": rec}

    def equal_weights() -> dict[str, Any]:
        diff = one_step_difference(dataclasses.replace(cfg, amp=False))
        # On the CPU both steps agree to rounding. On CUDA (TF32, cuDNN) Adam's first update is
        # about lr x sign(gradient), so a near-zero gradient may flip: at most 2 x lr apart.
        tol = 1e-6 if cfg.device == "cpu" else 2.05 * 2e-4
        return {"status": "pass" if diff <= tol else "fail", "max_weight_difference": diff, "tolerance": tol}

    record("device_setup", setup)
    record("one_step_equal_weights_fp32", equal_weights)
    record(f"bf16_vs_fp32_{bf16_steps}_steps", lambda: bf16_agreement(cfg, bf16_steps))
    return tests


def few_steps(cfg: BenchConfig) -> dict[str, Any]:
    """Three harness steps; pass when every loss stays finite (the import-path test's workload)."""
    method, device = build_harness(cfg)
    method = prepare(method, device)
    tracker = LossTracker(device.device)
    for batch in make_batches(cfg, 3):
        tracker.add(train_step(method, device, batch))
    means = tracker.pop_means()
    return {"status": "pass" if all(math.isfinite(v) for v in means.values()) else "fail", "losses": means}


# ---- concurrent runs on one device -----------------------------------------------------------------
def _concurrent_worker(cfg: BenchConfig, steps: int, barrier: Any, results: Any) -> None:
    torch.set_num_threads(1)
    method, device = build_harness(cfg)
    method = prepare(method, device)
    batches = make_batches(cfg, steps)
    sync = torch.cuda.synchronize if device.is_cuda else (lambda: None)
    for batch in batches[:cfg.warmup]:
        train_step(method, device, batch)
    sync()
    if device.is_cuda:
        torch.cuda.reset_peak_memory_stats()
    barrier.wait()
    start = time.time()
    for batch in batches:
        train_step(method, device, batch)
    sync()
    end = time.time()
    if device.is_cuda:
        peak = torch.cuda.max_memory_allocated() / 2**30
        kind = "max_memory_allocated (GiB; excludes the CUDA context)"
    else:
        import resource
        peak, kind = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, "peak RSS of the process (GiB)"
    results.put({"start": start, "end": end, "images": steps * cfg.batch_size, "peak_gb": peak, "peak_kind": kind})


def concurrent_runs(cfg: BenchConfig, counts: tuple[int, ...], steps: int) -> list[dict[str, Any]]:
    """k processes each training its own CycleGAN on the same device, started together."""
    ctx = multiprocessing.get_context("spawn")
    out = []
    for k in counts:
        barrier, results = ctx.Barrier(k), ctx.Queue()
        procs = [ctx.Process(target=_concurrent_worker, args=(cfg, steps, barrier, results)) for _ in range(k)]
        for p in procs:
            p.start()
        runs = [results.get(timeout=1800) for _ in procs]
        for p in procs:
            p.join()
        wall = max(r["end"] for r in runs) - min(r["start"] for r in runs)
        per_run = [r["images"] / (r["end"] - r["start"]) for r in runs]
        out.append({"runs": k, "aggregate_images_per_s": sum(r["images"] for r in runs) / wall,
                    "per_run_images_per_s": per_run, "peak_memory_per_run_gb": max(r["peak_gb"] for r in runs),
                    "peak_memory_kind": runs[0]["peak_kind"]})
    single = out[0]["aggregate_images_per_s"]
    for row in out:
        row["vs_single_run"] = row["aggregate_images_per_s"] / single
    return out


# ---- the check -------------------------------------------------------------------------------------
def environment(device: str) -> dict[str, Any]:
    env = {"date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"), "python": platform.python_version(),
           "torch": torch.__version__, "cuda": torch.version.cuda, "host": platform.node(), "device": device,
           "optional_packages": {m: _installed(m) for m in OPTIONAL}}
    if device == "cuda":
        env["gpu"] = torch.cuda.get_device_name(0)
        env["gpu_memory_gb"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    return env


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def run_check(device: str, quick: bool, compile_options: bool = True) -> dict[str, Any]:
    cfg = quick_config(device) if quick else full_config(device)
    options = {k: v for k, v in SPEED_OPTIONS.items() if device == "cuda" and (compile_options or "compile" not in k)}
    report: dict[str, Any] = {"environment": environment(device), "config": dataclasses.asdict(cfg),
                              "form": "quick (CI, reduced)" if quick else "full"}
    report["tests"] = run_tests(cfg, 10 if quick else 100)
    speed = {"default": bench_training_step(cfg)}
    for name, fields in options.items():  # each option is compiled once: its timing is also its test
        try:
            speed[name] = bench_training_step(dataclasses.replace(cfg, **fields))
            ok = speed[name]["harness_losses_finite"]
            report["tests"][f"option_{name}_trains"] = {"status": "pass" if ok else "fail", "losses_finite": ok}
        except Exception as exc:
            speed[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            report["tests"][f"option_{name}_trains"] = {"status": "fail", "error": speed[name]["error"]}
    report["step_speed"] = {k: {f: v.get(f) for f in ("reference_step_s", "harness_step_s", "speedup", "error")
                                if f in v} for k, v in speed.items()}
    report["concurrent_runs"] = concurrent_runs(cfg, (1, 2) if quick else (1, 2, 4, 8), 4 if quick else 100)
    try:
        report["feature_extraction"] = bench_feature_extraction(8 if quick else 500, 32 if quick else 256,
                                                                device=device)
    except Exception as exc:  # e.g. the evaluation package's own dependencies are missing
        report["feature_extraction"] = {"status": "skipped", "reason": f"{type(exc).__name__}: {exc}"[:300]}
    return report


def print_report(report: dict[str, Any]) -> None:
    env = report["environment"]
    print(f"GPU check ({report['form']}), {env['date_utc']} UTC, {env.get('gpu', env['device'])}, "
          f"torch {env['torch']} (CUDA {env['cuda']})")
    print("optional packages: " + ", ".join(f"{k}={'yes' if v else 'no'}" for k, v in env["optional_packages"].items()))
    print("tests:")
    for name, rec in report["tests"].items():
        detail = rec.get("error") or ", ".join(f"{k}={_fmt(v)}" for k, v in rec.items()
                                               if k in ("max_weight_difference", "relative_difference"))
        print(f"  {rec['status'].upper():<5} {name}  {detail}")
    cfg = report["config"]
    print(f"training step at {cfg['image_size']} px, batch {cfg['batch_size']} (reference / harness):")
    for name, rec in report["step_speed"].items():
        if "error" in rec:
            print(f"  {name:<24} failed: {rec['error']}")
        else:
            print(f"  {name:<24} {rec['reference_step_s'] * 1e3:8.2f} ms / {rec['harness_step_s'] * 1e3:8.2f} ms"
                  f"   speedup {rec['speedup']:.3f}")
    print("concurrent runs on one device:")
    for row in report["concurrent_runs"]:
        print(f"  {row['runs']} run(s): {row['aggregate_images_per_s']:8.2f} images/s in all "
              f"({row['vs_single_run']:.2f}x one run), peak memory per run {row['peak_memory_per_run_gb']:.2f} GiB")
    fx = report["feature_extraction"]
    print("feature extraction: " + (f"{fx['features_per_s']:.1f} images/s ({fx['extractor']}, {fx['n_images']} images)"
                                     if fx.get("status") == "ok" else f"skipped ({fx.get('reason')})"))


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {v:.3g}" for k, v in value.items()) + "}"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.gpu_check", description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--quick", action="store_true", help="the reduced form (tiny networks, 32 px): CI on the CPU")
    p.add_argument("--no-compile", action="store_true", help="leave out the torch.compile options (slow to compile)")
    p.add_argument("--json-out", default=None, help="also write the full report to this JSON file")
    args = p.parse_args(argv)
    device = "cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: --device cuda, but torch sees no CUDA device", file=sys.stderr)
        return 2
    report = run_check(device, args.quick, not args.no_compile)
    print_report(report)
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2, default=str)
    return 1 if any(t["status"] == "fail" for t in report["tests"].values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
