"""Running a grid on this machine: N GPUs x K runs per GPU, each run its own process.

A batch-1 GAN step leaves a large GPU mostly idle (launch-bound, a few GB of memory), so
several independent runs share each GPU. Each run is a plain subprocess (`python -c` calling
`worker_main` with the run's spec as JSON) pinned to one GPU through CUDA_VISIBLE_DEVICES,
with its own seed and a log file in its run folder. A fixed set of *slots* (GPU, index) is
served by a thread pool of the same size: each slot takes the next pending run when its
previous one ends. That is the whole scheduler: a bounded pool from the standard library, no
daemon. Placement is injectable (`Gpu` lists), so it is tested on machines without a GPU.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import traceback
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

log = logging.getLogger("harness.grid")

DEFAULT_GB_PER_RUN = 8.0  # a guess for a 256 px CycleGAN-sized run at batch 1 (bf16), not a measurement
MAX_RUNS_PER_GPU = 8
LOG_NAME = "grid.log"  # the subprocess's stdout and stderr, in the run folder
SPEC_NAME = "grid-spec.json"
# Exit codes of a run that checkpointed on a preemption signal (`harness.training.preemption`).
STOPPED_CODES = {128 + int(getattr(signal, n)) for n in ("SIGTERM", "SIGUSR1", "SIGUSR2") if hasattr(signal, n)}


@dataclass(frozen=True)
class Gpu:
    index: int  # as CUDA_VISIBLE_DEVICES names it
    free_gb: float
    total_gb: float
    name: str = ""


@dataclass(frozen=True)
class Slot:
    gpu: Optional[int]  # None: a CPU slot
    index: int  # the k-th run on that device

    @property
    def label(self) -> str:
        return f"{'cpu' if self.gpu is None else f'gpu{self.gpu}'}#{self.index}"


def discover_gpus() -> list[Gpu]:
    """The GPUs this process may use, with free memory: nvidia-smi when present (no CUDA context
    in this process), else torch. Honours a numeric CUDA_VISIBLE_DEVICES."""
    gpus: list[Gpu] = []
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=index,memory.free,memory.total,name",
                                  "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=30,
                                 check=True).stdout
            for line in out.strip().splitlines():
                idx, free, total, name = [p.strip() for p in line.split(",", 3)]
                gpus.append(Gpu(int(idx), float(free) / 1024, float(total) / 1024, name))
        except (OSError, subprocess.SubprocessError, ValueError):
            gpus = []
    if not gpus:
        import torch
        if torch.cuda.is_available():
            for i in range(torch.cuda.device_count()):
                free, total = torch.cuda.mem_get_info(i)
                gpus.append(Gpu(i, free / 2**30, total / 2**30, torch.cuda.get_device_name(i)))
            return gpus  # torch already numbers the visible devices from 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and all(v.strip().isdigit() for v in visible.split(",") if v.strip()):
        keep = [int(v) for v in visible.split(",") if v.strip()]
        gpus = [g for g in gpus if g.index in keep]
    return gpus


def runs_per_gpu(gpus: Sequence[Gpu], gb_per_run: float = DEFAULT_GB_PER_RUN, cap: int = MAX_RUNS_PER_GPU) -> int:
    """Default K: as many runs as fit in 90 % of the smallest free memory, between 1 and `cap`."""
    if not gpus:
        return 1
    fits = int(min(g.free_gb for g in gpus) * 0.9 // gb_per_run)
    return max(1, min(cap, fits))


def make_slots(gpus: Sequence[Gpu], per_gpu: int, cpu_parallel: int = 1) -> list[Slot]:
    """Slots in the order they take their first run: the first wave spreads over all GPUs."""
    if not gpus:
        return [Slot(None, k) for k in range(max(1, cpu_parallel))]
    return [Slot(g.index, k) for k in range(max(1, per_gpu)) for g in gpus]


def first_wave(n_pending: int, slots: Sequence[Slot]) -> list[Optional[Slot]]:
    """Where each pending run starts if it starts at once; None: it waits for the first free slot."""
    return [slots[i] if i < len(slots) else None for i in range(n_pending)]


# ---- the pool ---------------------------------------------------------------------------------
def child_env(slot: Slot, n_slots: int) -> dict[str, str]:
    env = dict(os.environ)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    share = max(1, cpus // n_slots)
    env.setdefault("OMP_NUM_THREADS", str(share))  # runs side by side must not each take every core
    env["HARNESS_LOADER_WORKERS"] = str(max(1, share - 1))
    env["PYTHONUNBUFFERED"] = "1"
    if slot.gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = str(slot.gpu)
    return env


def run_pool(items: Sequence[Any], slots: Sequence[Slot], python: str = sys.executable) -> list[dict[str, Any]]:
    """Run the pending `GridRun`s through the slots; one report entry per item (in order)."""
    from harness.grid import schedules_of
    report: list[Optional[dict[str, Any]]] = [None] * len(items)
    queue = deque(i for i, item in enumerate(items) if item.state != "complete")
    for i, item in enumerate(items):
        if item.state == "complete":
            report[i] = {"run_dir": str(item.spec.run_dir), "before": "complete", "outcome": "skipped"}
    schedules = schedules_of([item.spec for item in items])
    lock, children, stopping = threading.Lock(), set(), threading.Event()

    def serve(slot: Slot) -> None:
        while not stopping.is_set():
            with lock:
                if not queue:
                    return
                i = queue.popleft()
            report[i] = _run_child(items[i], slot, len(slots), schedules, python, children, lock)

    def forward(signum: int, frame: Any) -> None:  # SIGTERM here: every run checkpoints and stops
        stopping.set()
        with lock:
            for proc in children:
                proc.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward) if threading.current_thread() is threading.main_thread() \
        else None
    try:
        with ThreadPoolExecutor(max_workers=len(slots), thread_name_prefix="grid-slot") as pool:
            for future in [pool.submit(serve, slot) for slot in slots]:
                future.result()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return [r if r is not None else {"run_dir": str(items[i].spec.run_dir), "before": items[i].state,
                                     "outcome": "not started"} for i, r in enumerate(report)]


def _run_child(item: Any, slot: Slot, n_slots: int, schedules: dict[str, Any], python: str,
               children: set, lock: threading.Lock) -> dict[str, Any]:
    run_dir = Path(item.spec.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    spec_file, log_file = run_dir / SPEC_NAME, run_dir / LOG_NAME
    spec_file.write_text(json.dumps({"spec": asdict(item.spec), "schedules": schedules}), encoding="utf-8")
    entry = {"run_dir": str(run_dir), "before": item.state, "slot": slot.label, "log": str(log_file)}
    log.info("%s: %s (%s)", slot.label, run_dir, item.state)
    with log_file.open("a", encoding="utf-8") as sink:
        proc = subprocess.Popen([python, "-c", "from harness.grid_local import worker_main; worker_main()",
                                 str(spec_file)], stdout=sink, stderr=subprocess.STDOUT, env=child_env(slot, n_slots))
        with lock:
            children.add(proc)
        code = proc.wait()
        with lock:
            children.discard(proc)
    spec_file.unlink(missing_ok=True)
    if code == 0:
        entry["outcome"] = "resumed" if item.state == "interrupted" else "trained"
    elif code in STOPPED_CODES:  # checkpointed on a signal: the next `harness grid` resumes it
        entry.update(outcome="stopped", exit_code=code, error=_last_error(log_file))
    else:
        entry.update(outcome="failed", exit_code=code, error=_last_error(log_file) or f"exit code {code}")
    return entry


def _last_error(log_file: Path) -> str:
    lines = [ln for ln in log_file.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("harness: error:") or "Error" in ln]
    return (errors or lines or [""])[-1].strip()[:300]


def worker_main(argv: Optional[list[str]] = None) -> None:
    """One grid run in this process (what each slot starts): the spec from JSON, then `execute`."""
    from harness.errors import HarnessError
    from harness.grid import register_schedules
    from harness.pipeline import RunSpec, execute
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    data = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    register_schedules(data["schedules"])
    spec = RunSpec(**data["spec"])
    try:
        print(execute(spec) / "result.json", flush=True)
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(exc.exit_code) from None
    except Exception as exc:  # torch's errors included: the traceback in this run's log, a one-line error
        traceback.print_exc()
        print(f"harness: error: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}", file=sys.stderr,
              flush=True)
        raise SystemExit(1) from None


# ---- NVIDIA MPS: K runs on one GPU share it instead of time-slicing --------------------------------
MPS_CONTROL = "nvidia-cuda-mps-control"


class MpsDaemon:
    """Starts NVIDIA's MPS control daemon for this grid (pipe and log folders of its own, so no root
    and no clash with another user's daemon) and stops it at the end; the runs started meanwhile
    inherit CUDA_MPS_PIPE_DIRECTORY and connect to it."""

    def __init__(self, folder: Path, control: Optional[str] = None):
        from harness.errors import UsageError
        self.control = control or shutil.which(MPS_CONTROL)
        if self.control is None:
            raise UsageError(f"--mps: {MPS_CONTROL} is not on PATH (it comes with the NVIDIA driver on a GPU "
                             "machine); run without --mps")
        self.env = {"CUDA_MPS_PIPE_DIRECTORY": str(folder / "pipe"), "CUDA_MPS_LOG_DIRECTORY": str(folder / "log")}
        self._saved: dict[str, Optional[str]] = {}

    def __enter__(self) -> "MpsDaemon":
        for path in self.env.values():
            Path(path).mkdir(parents=True, exist_ok=True)
        self._saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        subprocess.run([self.control, "-d"], check=True, timeout=60, env=dict(os.environ))
        log.info("MPS control daemon started (pipe %s)", self.env["CUDA_MPS_PIPE_DIRECTORY"])
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            subprocess.run([self.control], input="quit\n", text=True, timeout=60, env=dict(os.environ), check=False)
            log.info("MPS control daemon stopped")
        finally:
            for key, value in self._saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
