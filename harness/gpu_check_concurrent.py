"""K training runs on one device at once, as a grid with K runs per GPU places them: aggregate
images/s and peak memory per run, with and without NVIDIA MPS.

Each run is its own process (spawned), started together behind a barrier. The parent watches
them: a worker that dies (an OOM or a CUDA error) or hangs is killed with the others and the
count is reported as failed; the check goes on with the next count.
"""
from __future__ import annotations

import multiprocessing
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from harness.bench import BenchConfig, build_harness, make_batches, prepare
from harness.check_sections import stop, wait_for
from harness.grid_local import MPS_CONTROL, MpsDaemon
from harness.training.step import train_step

BARRIER_TIMEOUT_S = 600  # a worker never waits forever for a sibling that died


def _worker(cfg: BenchConfig, steps: int, barrier: Any, results: Any) -> None:
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
    barrier.wait(timeout=BARRIER_TIMEOUT_S)
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


def concurrent_runs(cfg: BenchConfig, k: int, steps: int, limit_s: float) -> dict[str, Any]:
    """k processes each training its own CycleGAN on the same device; raises WorkerDied or
    SectionTimeout (after killing every worker) when one dies or the limit passes."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(k), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(cfg, steps, barrier, results), daemon=True) for _ in range(k)]
    for p in procs:
        p.start()
    try:
        runs = wait_for(results, procs, k, time.monotonic() + limit_s)
    finally:
        barrier.abort()  # siblings blocked at the barrier wake up (and are killed below if still there)
        stop(procs)
    wall = max(r["end"] for r in runs) - min(r["start"] for r in runs)
    return {"runs": k, "aggregate_images_per_s": sum(r["images"] for r in runs) / wall,
            "per_run_images_per_s": [r["images"] / (r["end"] - r["start"]) for r in runs],
            "peak_memory_per_run_gb": max(r["peak_gb"] for r in runs), "peak_memory_kind": runs[0]["peak_kind"]}


def mps_available(device: str) -> tuple[bool, str]:
    if device != "cuda":
        return False, "MPS is an NVIDIA GPU feature (this check runs on the CPU)"
    if shutil.which(MPS_CONTROL) is None:
        return False, f"{MPS_CONTROL} is not on PATH"
    return True, ""


def concurrent_runs_mps(cfg: BenchConfig, k: int, steps: int, limit_s: float) -> dict[str, Any]:
    """As `concurrent_runs`, under an MPS daemon of the check's own (the same one `harness grid --mps` starts)."""
    folder = Path(tempfile.mkdtemp(prefix="harness-mps-"))
    try:
        with MpsDaemon(folder):
            row = concurrent_runs(cfg, k, steps, limit_s)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {**row, "mps": True}
