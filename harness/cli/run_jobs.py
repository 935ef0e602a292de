"""`harness run --jobs N`: the runs of one request, N at a time, in N worker processes.

A demo-sized run keeps one core busy with one torch thread (a 32 px step is per-layer overhead, which a
second thread does not speed up), so on a machine with N cores the runs of a multi-method request go about
N times as fast side by side. Each worker is a Python process that runs, one after another, the same
`harness run` command line for one method and one seed that the request stands for, in process (imports
and setup are paid once per worker: a process per run would cost ~4 CPU-seconds of imports each). Every
run seeds itself at its start, as in a sequential request, so its result is the one a sequential request
writes (tests/test_run_jobs.py compares them bit for bit).

Output stays readable: the parent relays each worker's output line by line, whole lines only, each log
line prefixed with its method (and seed when there are several) unless it names its run already (progress
lines); progress bars are off in the workers, whose output is a pipe, not a terminal. stdout carries the
result paths, in the order the runs finish. SIGTERM is passed on to every worker (the running runs
checkpoint and stop, as a sequential run does; the rest do not start).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import traceback
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

# Ends each run's output in a worker's stdout (followed by the exit code) and stderr; never printed here.
SENTINEL = "\x1eharness-run-done "
# The hidden flag a child gets: the parent prints the grouped "metric unavailable" lines once for all runs.
CHILD_FLAG = "--no-unavailable-summary"


def child_argv(args: argparse.Namespace, method: str, seed: int) -> list[str]:
    """The `harness run` arguments for one (method, seed) of the request, every other option as given."""
    argv = ["--verbose"] if getattr(args, "verbose", False) else []
    argv += ["run", "--task", args.task, "--methods", method, "--seed", str(seed), "--schedule", args.schedule,
             "--device", args.device, "--out", args.out, CHILD_FLAG]
    for option, value in (("--data-root", args.data_root), ("--batch-size", args.batch_size),
                          ("--lr-rule", args.lr_rule), ("--inception-weights", args.inception_weights),
                          ("--compile-mode", args.compile_mode), ("--memory-format", args.memory_format)):
        if value is not None:
            argv += [option, str(value)]
    for option, on in (("--force", args.force), ("--discard-checkpoints", args.discard_checkpoints),
                       ("--compile", args.compile), ("--fused-adam", args.fused_adam),
                       ("--tensorboard", args.tensorboard), ("--offline", args.offline)):
        if on:
            argv.append(option)
    for item in args.overrides or []:
        argv += ["--set", item]
    return argv


def child_env() -> dict[str, str]:
    """One torch thread per worker unless the caller chose otherwise: N runs on N cores, not N x N threads."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONUNBUFFERED"] = "1"  # lines reach the parent as they are written
    src = str(Path(__file__).resolve().parents[2])  # the worker imports this same harness (also from a checkout)
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def worker_main() -> None:
    """A worker process: one `harness run` per JSON line on stdin, in this process, one after another (as a
    sequential request runs them: imports and setup are paid once per worker, not once per run). After each
    run, a SENTINEL line on stdout (with the exit code) and one on stderr mark where its output ends."""
    from harness.cli import main
    for line in sys.stdin:
        try:
            code = main(json.loads(line))
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 2
        except KeyboardInterrupt:
            code = 130
        except Exception:  # a bug in one run: its traceback, and the worker goes on with the next run
            traceback.print_exc()
            code = 1
        sys.stderr.write(SENTINEL + "\n")
        sys.stderr.flush()
        sys.stdout.write(f"{SENTINEL}{code}\n")
        sys.stdout.flush()
        if code == 130:
            return


class Worker:
    """One worker process; its output relayed to this process's stdout/stderr in whole lines, never
    interleaved mid-line with another worker's. Each stream counts the SENTINEL lines it has passed, so it
    knows which run a line belongs to whatever the other stream's lag."""

    def __init__(self, lock: threading.Lock, several_seeds: bool) -> None:
        self.lock, self.several_seeds = lock, several_seeds
        self.labels: list[str] = []  # of the runs sent, in order
        self.proc = subprocess.Popen([sys.executable, "-c", "from harness.cli.run_jobs import worker_main; "
                                      "worker_main()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1, env=child_env())
        self.err = threading.Thread(target=self.relay_stderr, daemon=True)
        self.err.start()

    def write(self, sink: IO[str], text: str) -> None:
        with self.lock:
            sink.write(text)
            sink.flush()

    def relay_stderr(self) -> None:
        done = 0
        for line in self.proc.stderr:
            if line.startswith(SENTINEL):
                done += 1
                continue
            label = self.labels[min(done, len(self.labels) - 1)] if self.labels else "worker"
            # Progress lines already begin with their run ("[cut/demo-seed0] step ..."): no second label.
            self.write(sys.stderr, f"[{label}] {line}" if line.strip() and not line.startswith("[") else line)

    def run(self, argv: list[str], method: str, seed: int) -> tuple[int, list[str]]:
        """One run in this worker; its exit code and the result paths it printed (relayed to stdout)."""
        self.labels.append(f"{method} seed {seed}" if self.several_seeds else method)
        try:
            self.proc.stdin.write(json.dumps(argv) + "\n")
            self.proc.stdin.flush()
        except OSError:  # the worker is gone (killed, out of memory): this run fails, the others go on
            return self.proc.wait() or 1, []
        printed: list[str] = []
        for line in self.proc.stdout:
            if line.startswith(SENTINEL):
                return int(line[len(SENTINEL):]), printed
            self.write(sys.stdout, line)
            printed.append(line.rstrip("\n"))
        return self.proc.wait() or 1, printed  # the worker died mid-run

    def close(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:  # already gone
                pass
        self.proc.wait()
        self.err.join()


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
        return schedule.for_run(setting_for(method_cls, task), run[0]).epochs

    return sorted(runs, key=epochs, reverse=True)  # stable: otherwise the order asked for


def run_parallel(args: argparse.Namespace, runs: list[tuple[str, int]], jobs: int,
                 schedule: str) -> tuple[list[Path], list[str]]:
    """Every (method, seed) run, `jobs` at a time (`schedule`: the registered name of --schedule); the finished
    run folders and the failures (one line each)."""
    from harness.data.prepare import resolve_data_root
    from harness.registry import TASKS
    # Data the harness generates itself (the demo's) is made here, once: workers that each found it missing
    # would generate it side by side into the same cache folder.
    resolve_data_root(TASKS.get(args.task, where="--task"), args.data_root)
    pending = deque(longest_first(runs, args.task, schedule))
    lock, stopping = threading.Lock(), threading.Event()
    several_seeds = len({seed for _, seed in runs}) > 1
    workers = [Worker(lock, several_seeds) for _ in range(jobs)]
    outcomes: dict[tuple[str, int], tuple[int, list[str]]] = {}

    def serve(worker: Worker) -> None:
        try:
            while not stopping.is_set():
                with lock:
                    if not pending:
                        return
                    method, seed = pending.popleft()
                outcomes[(method, seed)] = worker.run(child_argv(args, method, seed), method, seed)
        finally:
            worker.close()

    def forward(signum: int, frame: object) -> None:  # SIGTERM: every running run checkpoints and stops
        stopping.set()
        for worker in workers:
            worker.proc.send_signal(signum)

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, forward) if main_thread else None
    try:
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="run-job") as pool:
            for future in [pool.submit(serve, worker) for worker in workers]:
                future.result()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    finished, failures = [], []
    for method, seed in runs:
        code, printed = outcomes.get((method, seed), (-1, []))
        finished += [Path(line).parent for line in printed if line.endswith("result.json")]
        if code == -1:
            failures.append(f"{method} (seed {seed}): not started (stopped by a signal)")
        elif code != 0:
            failures.append(f"{method} (seed {seed}): exit code {code} (its error is printed above, "
                            f"prefixed [{method}])")
    return finished, failures
