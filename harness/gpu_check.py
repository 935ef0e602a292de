"""The GPU check: `PYTHONPATH=. python -m harness.gpu_check --json-out gpu-check.json` from a
checkout, on a machine with a recent torch and nothing else of this project installed (no numpy,
Pillow, PyYAML, tqdm, torch-fidelity needed: what needs a missing optional package is skipped).

Sections, each under its own time limit (`harness.check_sections`; on CUDA each in a child
process killed at its limit), with the JSON report rewritten after every one of them:
  * tests: the device setup, harness vs reference step from equal weights (fp32), bf16 vs fp32
    losses over 100 steps, and each speed option training with finite losses;
  * step speed against the reference step at 256 px: the default step and each speed option
    (fused Adam, standard memory layout, torch.compile default / reduce-overhead / max-autotune);
  * memory format per network family (ResNet and U-Net generators, PatchGAN): channels_last
    against the standard layout;
  * images/s of K = 1, 2, 4, 8 concurrent runs on one GPU, without and with NVIDIA MPS; a worker
    that dies or hangs is killed with its siblings and reported;
  * feature-extraction throughput (skipped without torch-fidelity or its weights).
It ends with a one-screen summary (pass/fail per test, speedups, the best K, which options to make
default) and exits 1 only when a correctness test failed. `--quick` is the reduced CPU form.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import math
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import torch

from harness.bench import (NETWORK_FAMILIES, BenchConfig, bench_feature_extraction, bench_memory_format,
                           bench_training_step, build_harness, make_batches, one_step_difference, prepare)
from harness.check_sections import CheckReport
from harness.gpu_check_concurrent import concurrent_runs, concurrent_runs_mps, mps_available
from harness.gpu_check_summary import print_summary
from harness.training.step import LossTracker, train_step

OPTIONAL = ("numpy", "PIL", "yaml", "tqdm", "torch_fidelity", "submitit")
SPEED_OPTIONS = {"fused_adam": {"fused_adam": True}, "contiguous": {"memory_format": "contiguous"},
                 "compile": {"compile": True}, "compile_reduce_overhead": {"compile": True, "compile_mode": "reduce-overhead"},
                 "compile_max_autotune": {"compile": True, "compile_mode": "max-autotune"}}
SECTIONS = ("tests", "speed", "memory_format", "concurrent", "features")
BF16_REL_TOL = 0.10  # mean loss over the steps, bf16 vs fp32 (same weights and batches)
# Time limits (s) of the full form's sections; compile sections include compiling.
LIMITS = {"test": 240, "speed": 120, "speed_compile": 240, "memory_format": 90, "concurrent": 150, "features": 120}
QUICK_LIMIT = 240  # every section of the reduced form (a loaded CPU)


def full_config(device: str) -> BenchConfig:
    return BenchConfig(image_size=256, device=device, warmup=5, iters=20, rounds=4)


def quick_config(device: str) -> BenchConfig:
    return BenchConfig(image_size=32, ngf=4, ndf=4, n_blocks=1, device=device, warmup=1, iters=2, rounds=2)


# ---- tests (module level: an isolated section pickles its function) --------------------------------
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


def device_setup_test(cfg: BenchConfig) -> dict[str, Any]:
    _, device = build_harness(cfg)
    rec = device.record()
    want_cuda = {"amp_dtype": "torch.bfloat16", "channels_last": True, "cudnn_benchmark": True}
    ok = not device.is_cuda or all(rec.get(k) == v for k, v in want_cuda.items())
    return {"status": "pass" if ok else "fail", "device_setup": rec}


def equal_weights_test(cfg: BenchConfig) -> dict[str, Any]:
    diff = one_step_difference(dataclasses.replace(cfg, amp=False))
    # On the CPU both steps agree to rounding. On CUDA (TF32, cuDNN) Adam's first update is
    # about lr x sign(gradient), so a near-zero gradient may flip: at most 2 x lr apart.
    tol = 1e-6 if cfg.device == "cpu" else 2.05 * 2e-4
    return {"status": "pass" if diff <= tol else "fail", "max_weight_difference": diff, "tolerance": tol}


def few_steps(cfg: BenchConfig) -> dict[str, Any]:
    """Three harness steps; pass when every loss stays finite (the import-path test's workload)."""
    method, device = build_harness(cfg)
    method = prepare(method, device)
    tracker = LossTracker(device.device)
    for batch in make_batches(cfg, 3):
        tracker.add(train_step(method, device, batch))
    means = tracker.pop_means()
    return {"status": "pass" if all(math.isfinite(v) for v in means.values()) else "fail", "losses": means}


def test_names(bf16_steps: int) -> tuple[str, ...]:
    return ("device_setup", "one_step_equal_weights_fp32", f"bf16_vs_fp32_{bf16_steps}_steps")


def correctness_tests(cfg: BenchConfig, bf16_steps: int) -> dict[str, Any]:
    """The three correctness tests; one that raises is a failed test, the others still run."""
    tests: dict[str, Any] = {}
    for name, fn, args in zip(test_names(bf16_steps), (device_setup_test, equal_weights_test, bf16_agreement),
                              ((cfg,), (cfg,), (cfg, bf16_steps))):
        try:
            tests[name] = fn(*args)
        except Exception as exc:
            tests[name] = {"status": "fail", "error": f"{type(exc).__name__}: {exc}"[:500]}
    return tests


def memory_formats(device: str, quick: bool) -> dict[str, Any]:
    """channels_last against the standard layout for each network family (a failure stays with its family)."""
    size, ngf, blocks, iters, rounds = (32, 4, 1, 2, 2) if quick else (256, 64, 9, 10, 3)
    out: dict[str, Any] = {}
    for family in NETWORK_FAMILIES:
        try:
            out[family] = bench_memory_format(family, size, ngf, blocks, device, iters, rounds)
        except Exception as exc:
            out[family] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    return out


def speed_section(cfg: BenchConfig) -> dict[str, Any]:
    rec = bench_training_step(cfg)
    keep = ("reference_step_s", "harness_step_s", "speedup", "harness_losses_finite", "device_setup")
    return {k: rec[k] for k in keep}


# ---- the check -------------------------------------------------------------------------------------
def environment(device: str) -> dict[str, Any]:
    env = {"date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"), "python": platform.python_version(),
           "torch": torch.__version__, "cuda": torch.version.cuda, "host": platform.node(), "device": device,
           "optional_packages": {m: _installed(m) for m in OPTIONAL}}
    if device == "cuda":
        # nvidia-smi first: no CUDA context in this process, whose sections run in child processes
        # (a context held here could stand in the way of the MPS rows).
        from harness.grid_local import discover_gpus
        gpus = discover_gpus()
        env["gpu"] = gpus[0].name if gpus else torch.cuda.get_device_name(0)
        env["gpu_memory_gb"] = round(gpus[0].total_gb if gpus else
                                     torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    return env


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def run_check(device: str, quick: bool, compile_options: bool = True, json_out: Optional[Path] = None,
              sections: tuple[str, ...] = SECTIONS, counts: Optional[tuple[int, ...]] = None,
              isolate: Optional[bool] = None, budget_s: Optional[float] = None) -> dict[str, Any]:
    cfg = quick_config(device) if quick else full_config(device)
    isolate = device == "cuda" if isolate is None else isolate
    limit = (lambda key: QUICK_LIMIT) if quick else LIMITS.__getitem__
    counts = counts or ((1, 2) if quick else (1, 2, 4, 8))
    report = CheckReport(json_out, {"environment": environment(device), "config": dataclasses.asdict(cfg),
                                    "form": "quick (CI, reduced)" if quick else "full", "tests": {},
                                    "step_speed": {}, "memory_format": {}, "concurrent_runs": []}, budget_s)
    report.save()
    data = report.data

    if "tests" in sections:  # one section (one child process on CUDA): each start costs seconds of GPU time
        bf16_steps = 10 if quick else 100
        status, payload = report.run("tests", correctness_tests, (cfg, bf16_steps), limit("test"), isolate)
        data["tests"].update(payload if status == "done" else
                             {name: {"status": "fail", **payload} for name in test_names(bf16_steps)})
        report.save()
    if "speed" in sections:
        options = {k: v for k, v in SPEED_OPTIONS.items() if device == "cuda" and (compile_options or "compile" not in k)}
        for name, fields in {"default": {}, **options}.items():
            key = "speed_compile" if "compile" in fields else "speed"
            status, payload = report.run(f"speed {name}", speed_section, (dataclasses.replace(cfg, **fields),),
                                         limit(key), isolate)
            data["step_speed"][name] = payload
            if name != "default":  # each option's timing is also its test: it trains with finite losses
                ok = status == "done" and payload["harness_losses_finite"]
                # An option still compiling at its limit is unmeasured, not wrong.
                verdict = "pass" if ok else ("timed out" if status in ("timed out", "skipped") else "fail")
                data["tests"][f"option_{name}_trains"] = {"status": verdict,
                                                          **({"error": payload["error"]} if "error" in payload else {})}
            report.save()
    if "memory_format" in sections:
        status, payload = report.run("memory_format", memory_formats, (device, quick), limit("memory_format"), isolate)
        data["memory_format"] = payload if status == "done" else {f: payload for f in NETWORK_FAMILIES}
        report.save()
    if "concurrent" in sections:
        steps = 4 if quick else 100
        has_mps, why_not = mps_available(device)
        for k in counts:
            for mps in (False, True):
                if mps and not has_mps:
                    continue
                fn = concurrent_runs_mps if mps else concurrent_runs
                # The workers are this section's own processes: it runs in this process and watches them.
                status, payload = report.run(f"concurrent K={k}{' mps' if mps else ''}", fn,
                                             (cfg, k, steps, limit("concurrent")), limit("concurrent") + 30, False)
                data["concurrent_runs"].append(payload if status == "done" else
                                               {"runs": k, "mps": mps, "status": status, **payload})
                report.save()
        if not has_mps:
            data["concurrent_runs_mps"] = {"status": "skipped", "reason": why_not}
        _relative_to_single(data["concurrent_runs"])
        report.save()
    if "features" in sections:
        status, payload = report.run("features", bench_feature_extraction,
                                     (8 if quick else 500, 32 if quick else 256, "inception-v3-compat", None, device),
                                     limit("features"), isolate)
        data["feature_extraction"] = payload if status == "done" else {"status": "skipped", "reason": payload["error"]}
        report.save()
    return data


def _relative_to_single(rows: list[dict[str, Any]]) -> None:
    for mps in (False, True):
        mine = [r for r in rows if bool(r.get("mps")) == mps and "aggregate_images_per_s" in r]
        single = next((r["aggregate_images_per_s"] for r in mine if r["runs"] == 1), None)
        for row in mine:
            row["vs_single_run"] = row["aggregate_images_per_s"] / single if single else None


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.gpu_check", description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--quick", action="store_true", help="the reduced form (tiny networks, 32 px): CI on the CPU")
    p.add_argument("--no-compile", action="store_true", help="leave out the torch.compile options (slow to compile)")
    p.add_argument("--json-out", default=None, help="the report as JSON, rewritten after every section")
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {', '.join(SECTIONS)}")
    p.add_argument("--concurrent", default=None, metavar="K,K", help="run counts (default 1,2,4,8; quick: 1,2)")
    p.add_argument("--isolate", default=None, choices=["yes", "no"],
                   help="each section in a child process killed at its limit (default: yes on CUDA)")
    p.add_argument("--budget-s", type=float, default=None,
                   help="stop starting sections after this many seconds (the rest are reported as skipped)")
    args = p.parse_args(argv)
    device = "cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: --device cuda, but torch sees no CUDA device", file=sys.stderr)
        return 2
    sections = tuple(s.strip() for s in args.sections.split(",") if s.strip())
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        print(f"gpu_check: --sections: unknown {', '.join(unknown)} (known: {', '.join(SECTIONS)})", file=sys.stderr)
        return 2
    try:
        counts = tuple(int(k) for k in args.concurrent.split(",")) if args.concurrent else None
    except ValueError:
        print(f"gpu_check: --concurrent {args.concurrent}: give whole numbers, e.g. 1,2,4,8", file=sys.stderr)
        return 2
    isolate = None if args.isolate is None else args.isolate == "yes"
    report = run_check(device, args.quick, not args.no_compile, Path(args.json_out) if args.json_out else None,
                       sections, counts, isolate, args.budget_s)
    print_summary(report)
    return 1 if any(t.get("status") == "fail" for t in report["tests"].values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
