"""Preemption: on SIGTERM, SIGUSR1 or SIGUSR2, finish the step, checkpoint, stop cleanly.

Clusters warn a job before they end it: Slurm sends SIGTERM on preemption and, with
`--signal`, a user signal before the time limit (submitit asks for SIGUSR2 90 s ahead).
The signal handler itself must not save: it runs between two bytecodes, possibly halfway
through an optimizer update, and would checkpoint a state no step ever produced. So the
handler only records the signal; the trainer looks at the flag after each step, saves its
regular full-state checkpoint at that step and raises `Preempted`. What happens next is up
to the caller: `harness run` exits with a one-line message (`harness resume` continues),
and a grid task on Slurm hands over to submitit (`hand_over_to_submitit`), whose
checkpointing protocol calls the task's `checkpoint()`, requeues the job and exits; the
requeued job resumes every run from its checkpoint.

Data-parallel ranks (torchrun) must all stop at the same step, since saving involves
collectives: they agree on the flag with one small all-reduce every `AGREE_EVERY` steps.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from harness.errors import HarnessError

log = logging.getLogger("harness.preemption")

# The signals a scheduler sends before ending a job (SIGUSR* do not exist on Windows).
SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGUSR1", "SIGUSR2") if hasattr(signal, name))
AGREE_EVERY = 10  # steps between the ranks' agreement on the flag (a host sync on NCCL)


class Preempted(HarnessError):
    """Training stopped on a signal after checkpointing; the run resumes from that checkpoint."""

    def __init__(self, signum: int, step: int, checkpoint: Path):
        self.signum, self.step, self.checkpoint = signum, step, Path(checkpoint)
        self.exit_code = 128 + signum  # what a shell reports for a process ended by that signal
        run_dir = self.checkpoint.parent.parent
        super().__init__(f"stopped by {signal.Signals(signum).name} at step {step}; checkpoint saved to "
                         f"{self.checkpoint}; `harness resume {run_dir}` continues from it")


class Watcher:
    """Records the first preemption signal; `uninstall` puts the previous handlers back."""

    def __init__(self) -> None:
        self.signum: Optional[int] = None
        self._previous: dict[int, Any] = {}

    def install(self) -> "Watcher":
        # Handlers can only be set from the main thread; elsewhere (a test runner's worker
        # thread) the watcher stays inert and training runs as before.
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is None:
            log.warning("caught %s: checkpointing after this step, then stopping", signal.Signals(signum).name)
            self.signum = signum

    def stop_requested(self, dist: Any = None, step: int = 0) -> bool:
        """True once a signal arrived; under data parallelism, once any rank got one (checked
        every AGREE_EVERY steps, so all ranks stop at the same step)."""
        if dist is None or not dist.enabled:
            return self.signum is not None
        if step % AGREE_EVERY:
            return False
        import torch.distributed as tdist
        device = torch.device("cuda", torch.cuda.current_device()) if dist.backend == "nccl" else torch.device("cpu")
        flag = torch.tensor([self.signum or 0], dtype=torch.int64, device=device)
        tdist.all_reduce(flag, op=tdist.ReduceOp.MAX)
        if int(flag) and self.signum is None:
            self.signum = int(flag)
        return bool(int(flag))


def watch() -> Watcher:
    """A watcher with its handlers installed (the trainer's `fit` holds one while training)."""
    return Watcher().install()


# ---- submitit's checkpointing protocol ------------------------------------------------------
def submitit_signal() -> int:
    """The signal submitit binds to checkpoint-and-requeue ($SUBMITIT_PREEMPT_SIGNAL, default USR2)."""
    name = os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2")
    return getattr(signal, "SIG" + name)


def hand_over_to_submitit(exc: Preempted) -> None:
    """Inside a submitit job, after `Preempted`: run submitit's own preemption handler, which calls
    the submitted callable's `checkpoint()`, requeues the job and exits the process. Outside a
    submitit job (or on a task other than the first, which submitit does not let requeue) the
    exception is raised again."""
    handler: Callable[..., Any] | Any = signal.getsignal(submitit_signal())
    owner = getattr(handler, "__self__", None)
    if callable(handler) and type(owner).__module__.startswith("submitit"):
        log.info("%s; handing over to submitit to requeue the job", exc)
        handler(submitit_signal(), None)  # exits the process when it requeues
    raise exc


def ignore_in_worker(worker_id: int) -> None:
    """DataLoader `worker_init_fn`: loader workers ignore the preemption signals. A scheduler
    signals every process of a job; a worker killed by it would make the loader raise in the
    middle of the step the trainer is about to checkpoint. Workers still end with their parent."""
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
