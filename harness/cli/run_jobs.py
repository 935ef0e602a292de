"""`harness run --jobs N`: the runs of one request, N at a time, each in its own process.

A demo-sized run keeps one core busy with one torch thread (a 32 px step is per-layer overhead, which a
second thread does not speed up), so on a machine with N cores the runs of a multi-method request go N
times as fast side by side. Each run is the same `harness run` command for one method and one seed, started
as a child process (`python -m harness run ...`): the run seeds itself as it does in a sequential request,
so its result is the one a sequential request writes (tests/test_run_jobs.py compares them bit for bit).

Output stays readable: the parent relays each child's output line by line, whole lines only, each log
line prefixed with its method (and seed when there are several) unless it names its run already; progress bars are off in the children
because their output is a pipe, not a terminal. stdout stays one result path per line, in the order the
runs finish. SIGTERM is passed on to every child (each checkpoints and stops, as a sequential run does).
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Optional

# The hidden flag a child gets: the parent prints the grouped "metric unavailable" lines once for all runs.
CHILD_FLAG = "--no-unavailable-summary"


def child_argv(args: argparse.Namespace, method: str, seed: int) -> list[str]:
    """The `harness run` command line for one (method, seed) of the request, every other option as given."""
    argv = [sys.executable, "-m", "harness"] + (["--verbose"] if getattr(args, "verbose", False) else [])
    argv += ["run", "--task", args.task, "--methods", method, "--seed", str(seed), "--schedule", args.schedule,
             "--device", args.device, "--out", args.out, CHILD_FLAG]
    for option, value in (("--data-root", args.data_root), ("--batch-size", args.batch_size),
                          ("--lr-rule", args.lr_rule), ("--inception-weights", args.inception_weights)):
        if value is not None:
            argv += [option, str(value)]
    for option, on in (("--force", args.force), ("--discard-checkpoints", args.discard_checkpoints),
                       ("--compile", args.compile), ("--tensorboard", args.tensorboard), ("--offline", args.offline)):
        if on:
            argv.append(option)
    for item in args.overrides or []:
        argv += ["--set", item]
    return argv


def child_env() -> dict[str, str]:
    """One torch thread per run unless the caller chose otherwise: N runs on N cores, not N x N threads."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONUNBUFFERED"] = "1"  # lines reach the parent as they are written
    src = str(Path(__file__).resolve().parents[2])  # the child imports this same harness (also from a checkout)
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


class Relay:
    """Whole lines from several children to this process's stdout/stderr, never interleaved mid-line."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.children: set[subprocess.Popen] = set()
        self.stopping = threading.Event()

    def copy(self, source: IO[str], sink: IO[str], prefix: str, lines: Optional[list[str]] = None) -> None:
        for line in source:
            with self.lock:
                # Progress lines already begin with their run ("[cut/demo-seed0] step ..."): no second label.
                sink.write(prefix + line if line.strip() and not line.startswith("[") else line)
                sink.flush()
            if lines is not None:
                lines.append(line.rstrip("\n"))

    def run(self, argv: list[str], label: str) -> tuple[int, list[str]]:
        """Run one child to its end; its exit code and the result paths it printed."""
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
                                env=child_env())
        with self.lock:
            self.children.add(proc)
        printed: list[str] = []
        err = threading.Thread(target=self.copy, args=(proc.stderr, sys.stderr, f"[{label}] "), daemon=True)
        err.start()
        self.copy(proc.stdout, sys.stdout, "", printed)
        err.join()
        code = proc.wait()
        with self.lock:
            self.children.discard(proc)
        return code, printed

    def forward(self, signum: int, frame: object) -> None:
        self.stopping.set()
        with self.lock:
            for proc in self.children:
                proc.send_signal(signum)


def longest_first(runs: list[tuple[str, int]], task_name: str, schedule_name: str) -> list[tuple[str, int]]:
    """The runs in the order they start: most training epochs first (the demo's unsupervised runs train twice as
    long as its supervised ones; reference rows train nothing), so the last runs to start are short ones and
    no slot idles long at the end. The order changes no result: each run seeds itself."""
    from harness.pipeline import setting_for
    from harness.registry import METHODS, SCHEDULES, TASKS
    task, schedule = TASKS.get(task_name, where="--task"), SCHEDULES.get(schedule_name, where="--schedule")

    def epochs(run: tuple[str, int]) -> int:
        method_cls = METHODS.get(run[0], where="--methods")
        if not getattr(method_cls, "trainable", True):
            return 0
        return schedule.for_setting(setting_for(method_cls, task)).epochs

    return sorted(runs, key=epochs, reverse=True)  # stable: otherwise the order asked for


def run_parallel(args: argparse.Namespace, runs: list[tuple[str, int]], jobs: int,
                 schedule: str) -> tuple[list[Path], list[str]]:
    """Every (method, seed) run, `jobs` at a time (`schedule`: the registered name of --schedule); the finished
    run folders and the failures (one line each)."""
    from harness.data.prepare import resolve_data_root
    from harness.registry import TASKS
    # Data the harness generates itself (the demo's) is made here, once: children that each found it missing
    # would generate it side by side into the same cache folder.
    resolve_data_root(TASKS.get(args.task, where="--task"), args.data_root)
    relay = Relay()
    several_seeds = len({seed for _, seed in runs}) > 1

    def one(run: tuple[str, int]) -> tuple[str, int, int, list[str]]:
        method, seed = run
        if relay.stopping.is_set():
            return method, seed, -1, []
        code, printed = relay.run(child_argv(args, method, seed), f"{method} seed {seed}" if several_seeds else method)
        return method, seed, code, printed

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, relay.forward) if main_thread else None
    try:
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="run-job") as pool:
            outcomes = list(pool.map(one, longest_first(runs, args.task, schedule)))
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    finished, failures = [], []
    for method, seed, code, printed in outcomes:
        finished += [Path(line).parent for line in printed if line.endswith("result.json")]
        if code == -1:
            failures.append(f"{method} (seed {seed}): not started (stopped by a signal)")
        elif code != 0:
            failures.append(f"{method} (seed {seed}): exit code {code} (its error is printed above, "
                            f"prefixed [{method}])")
    return finished, failures
