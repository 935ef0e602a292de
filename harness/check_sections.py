"""Sections of the GPU check, each under its own time limit, with the report on disk after each.

A section runs in this process under a timer (SIGALRM: stops Python code that runs too long) or,
isolated, in a child process that is killed at its limit (stops anything, a hung CUDA call
included: the default on CUDA). Worker processes of a section (the concurrent runs) are watched:
one that dies or hangs is killed with the others and reported. The JSON report is rewritten
atomically when a section starts and when it ends, so whatever happens (a crash, a kill of the
check itself) the file holds every finished section and names the one in progress.

Standard library and torch only: the check runs where nothing else of the project is installed.
"""
from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import tempfile
import threading
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

POLL_S = 0.2


class SectionTimeout(Exception):
    """A section ran past its time limit."""


class WorkerDied(Exception):
    """A section's child or worker process ended without a result."""


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


class CheckReport:
    """The report as a dict, written atomically to `path` (when given) after every change."""

    def __init__(self, path: Optional[Path], data: dict[str, Any], budget_s: Optional[float] = None):
        self.path, self.data = path, data
        self.data.setdefault("sections", {})
        self.started = time.monotonic()
        self.budget_s = budget_s

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.data, f, indent=2, default=str)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def time_left(self) -> Optional[float]:
        return None if self.budget_s is None else self.budget_s - (time.monotonic() - self.started)

    def run(self, key: str, fn: Callable[..., Any], args: tuple = (), limit_s: float = 300.0,
            isolate: bool = False) -> tuple[str, Any]:
        """Run one section; returns (status, payload): ("done", result) or ("failed" | "timed out" |
        "skipped", {"error"/"reason": ...}). Never raises for the section's own failures."""
        left = self.time_left()
        if left is not None and left < 5:
            payload = {"reason": "the check's time budget was spent before this section"}
            self.data["sections"][key] = {"status": "skipped", **payload}
            self.save()
            return "skipped", payload
        limit = limit_s if left is None else min(limit_s, left)
        entry: dict[str, Any] = {"status": "running", "started_utc": _now(), "time_limit_s": round(limit, 1),
                                 "isolated": isolate}
        self.data["sections"][key] = entry
        self.save()
        start = time.monotonic()
        try:
            result = in_child(fn, args, limit) if isolate else in_process(fn, args, limit)
            status, payload = "done", result
        except SectionTimeout:
            status, payload = "timed out", {"error": f"ran past its time limit of {limit:.0f} s; stopped"}
        except WorkerDied as exc:
            status, payload = "failed", {"error": str(exc)}
        except Exception as exc:  # a failing section is a result, not the end of the check
            status, payload = "failed", {"error": f"{type(exc).__name__}: {exc}"[:500],
                                         "traceback": traceback.format_exc()[-3000:]}
        entry.update(status=status, seconds=round(time.monotonic() - start, 2))
        if status != "done":
            entry["error"] = payload["error"]
        self.save()
        return status, payload


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise SectionTimeout in this (main) thread after `seconds`; no limit off the main thread."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise SectionTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def in_process(fn: Callable[..., Any], args: tuple, limit_s: float) -> Any:
    with time_limit(limit_s):
        return fn(*args)


def _child_main(fn: Callable[..., Any], args: tuple, results: Any) -> None:
    try:
        results.put(("ok", fn(*args)))
    except BaseException as exc:
        results.put(("error", f"{type(exc).__name__}: {exc}"[:500]))


def in_child(fn: Callable[..., Any], args: tuple, limit_s: float) -> Any:
    """`fn(*args)` in a spawned child process, killed at `limit_s`."""
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    proc = ctx.Process(target=_child_main, args=(fn, args, results), daemon=True)
    proc.start()
    try:
        kind, value = wait_for(results, [proc], 1, time.monotonic() + limit_s)[0]
    finally:
        stop([proc])
    if kind == "error":
        raise RuntimeError(value)
    return value


def wait_for(results: Any, procs: list[Any], count: int, deadline: float) -> list[Any]:
    """`count` items from `results`, watching `procs`: a process that ends without having sent its
    item raises WorkerDied, the deadline SectionTimeout (the caller kills what is left)."""
    import queue as queue_module
    got: list[Any] = []
    while len(got) < count:
        try:
            got.append(results.get(timeout=POLL_S))
            continue
        except queue_module.Empty:
            pass
        dead = [(i, p.exitcode) for i, p in enumerate(procs) if p.exitcode is not None]
        if len(dead) > len(got) or any(code != 0 for _, code in dead):
            # One more chance for items sent just before the exit, then report the dead.
            with contextlib.suppress(queue_module.Empty):
                while len(got) < count:
                    got.append(results.get(timeout=POLL_S))
            if len(got) < count:
                i, code = next(((i, c) for i, c in dead if c != 0), dead[0])
                raise WorkerDied(f"worker {i} (pid {procs[i].pid}) died with exit code {code} "
                                 f"({_signal_name(code)}); the other workers were stopped")
        if time.monotonic() > deadline:
            raise SectionTimeout()
    return got


def stop(procs: list[Any]) -> None:
    """Kill what still runs and reap everything (no zombie, no orphan left holding the GPU)."""
    for p in procs:
        if p.exitcode is None:
            p.kill()
    for p in procs:
        p.join(timeout=10)


def _signal_name(code: Optional[int]) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return "an error" if code else "no result"
