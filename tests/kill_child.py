"""Run the `harness` command line in this process and SIGKILL it at a chosen point (fault test helper).

`KILL_PLAN` says where; the process then dies exactly as `kill -9` from outside would, but at a point
chosen on purpose rather than whenever a poll loop happens to notice:

- `train:N`: before the N-th training step of this process
- `write:PATTERN:N`: during the N-th atomic write of a file whose name matches PATTERN (fnmatch): the
  temporary file is cut to half its size, as a write in progress is, and the process dies before the
  rename, e.g. `write:latest.pt:3`, `write:*.png:7`, `write:result.json:1`; `previous.pt` is a hard
  link to the checkpoint being replaced, not a write, so it is not cut
- `evaluate:MS`: MS milliseconds after the evaluation stage starts, or at its end if it is faster

Usage: python tests/kill_child.py run --task ... (the arguments of `harness`).
"""
from __future__ import annotations

import fnmatch
import os
import signal
import sys
import threading
from pathlib import Path


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _arm(plan: str) -> None:
    kind, _, rest = plan.partition(":")
    if kind == "train":
        from harness.training import trainer
        target, real, calls = int(rest), trainer.train_step, [0]

        def train_step(*args, **kwargs):
            calls[0] += 1
            if calls[0] == target:
                _die()
            return real(*args, **kwargs)
        trainer.train_step = train_step
    elif kind == "write":
        pattern, _, count = rest.rpartition(":")
        target, real_replace, calls = int(count), os.replace, [0]

        def replace(src, dst, *args, **kwargs):
            if fnmatch.fnmatch(Path(dst).name, pattern):
                calls[0] += 1
                if calls[0] == target:
                    if os.stat(src).st_nlink == 1:  # a hard link (previous.pt) is not being written: no cut
                        os.truncate(src, os.path.getsize(src) // 2)
                    _die()
            return real_replace(src, dst, *args, **kwargs)
        os.replace = replace
    elif kind == "evaluate":
        from harness import pipeline
        real_eval, delay = pipeline.evaluate_after_training, int(rest) / 1000

        def evaluate(*args, **kwargs):
            timer = threading.Timer(delay, _die)
            timer.daemon = True  # a run that ends first exits normally
            timer.start()
            real_eval(*args, **kwargs)
            _die()  # the evaluation ended before the timer: die at its end, before the result is written
        pipeline.evaluate_after_training = evaluate
    elif kind:
        raise SystemExit(f"unknown KILL_PLAN {plan!r}")


if __name__ == "__main__":
    _arm(os.environ.get("KILL_PLAN", ""))
    from harness.cli import main
    sys.exit(main(sys.argv[1:]))
