"""The one training loop every method runs on.

It owns the data stream, devices, AMP and channels_last on CUDA, learning-rate schedule,
progress bar, loss log, non-finite loss detection, periodic full-state checkpoints and
resume, batch sizes above the schedule's (with a recorded learning-rate rule) and
data-parallel training over several processes (`harness.training.distributed`). Methods
only provide networks, optimizers and `training_step`.

The step itself (`train_step`) performs no host-device synchronisation: losses are summed on
the device and read once per logging interval, which is what keeps a GPU busy.
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Optional

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from harness.data.datasets import TrainSet, collate, epoch_items
from harness.data.prepare import PreparedData
from harness.errors import HarnessError
from harness.schedules import Schedule
from harness.tasks import ImageSpec
from harness.training.checkpoint import (CHECKPOINT_NAME, PREVIOUS_NAME, CheckpointError, load_checkpoint,
                                         non_finite_weights, save_checkpoint)
from harness.training.resume_state import restore_tracker, tracker_state, truncate_loss_log, use_previous
from harness.training import distributed
from harness.training.device import DeviceSetup
from harness.training.method import Method
from harness.training.monitor import TrainingMonitor
from harness.training import preemption
from harness.training.step import LossTracker, train_step  # noqa: F401 (also imported from here)

log = logging.getLogger("harness.trainer")


class NonFiniteLossError(HarnessError):
    """A loss became NaN or inf; the last good checkpoint is kept."""


class Interrupted(Exception):
    """Raised by `stop_at_step` to simulate an interruption (tests and debugging)."""


@dataclass
class TrainOutcome:
    steps: int
    epochs: int
    wall_time_s: float
    resumed_from_step: int
    last_losses: dict[str, float]


@dataclass(frozen=True)
class TrainOptions:
    """Trainer options outside the schedule. `batch_size` None keeps the schedule's (the paper: 1).

    With a larger effective batch (batch_size x processes) the learning rate follows `lr_rule`:
    none (keep the schedule's), linear (x effective/schedule batch) or sqrt (x its square root,
    the rule usually suggested for Adam). The rule and the resulting factor are recorded.
    """

    batch_size: Optional[int] = None
    lr_rule: Literal["none", "linear", "sqrt"] = "none"
    tensorboard: bool = False  # logging only (training/monitor.py); set from the run spec, not part of the run id


def iters_per_epoch(n_items: int, schedule: Schedule, batch_size: Optional[int] = None, world_size: int = 1) -> int:
    """Global iterations per epoch; each consumes batch_size items on each of world_size processes."""
    n = n_items if schedule.max_iters_per_epoch is None else min(n_items, schedule.max_iters_per_epoch)
    return max(1, n // ((batch_size or schedule.batch_size) * world_size))


def lr_scale(rule: str, effective_batch: int, schedule_batch: int) -> float:
    ratio = effective_batch / schedule_batch
    return {"none": 1.0, "linear": ratio, "sqrt": math.sqrt(ratio)}[rule]


class Trainer:
    def __init__(self, method: Method, data: PreparedData, schedule: Schedule, image: ImageSpec,
                 device: DeviceSetup, run_dir: Path, seed: int, paired: bool,
                 options: TrainOptions = TrainOptions()):
        self.method, self.data, self.schedule, self.device = method, data, schedule, device
        self.run_dir, self.seed, self.options = run_dir, seed, options
        self.dist = device.dist
        self.batch_size = options.batch_size or schedule.batch_size
        if self.batch_size < 1:
            raise HarnessError(f"batch size must be at least 1, not {self.batch_size}")
        self.dataset = TrainSet(data.split, image, paired)
        self.paired = paired
        self.iters_per_epoch = iters_per_epoch(len(self.dataset), schedule, self.batch_size, self.dist.world_size)
        self.total_steps = self.iters_per_epoch * schedule.epochs
        self.checkpoint_path = run_dir / "checkpoints" / CHECKPOINT_NAME
        self.previous_path = run_dir / "checkpoints" / PREVIOUS_NAME
        self._tracker: Optional[LossTracker] = None
        self.effective_batch = self.batch_size * self.dist.world_size
        self.lr_factor = lr_scale(options.lr_rule, self.effective_batch, schedule.batch_size)
        for opt in method.optimizers.values():
            for group in opt.param_groups:
                group.setdefault("initial_lr", group["lr"] * self.lr_factor)
        if self.dist.enabled:
            distributed.broadcast_state(method)
            distributed.install_gradient_averaging(method.optimizers)
        self.monitor = TrainingMonitor.for_trainer(self, image)  # progress lines, snapshots, TensorBoard

    def record(self) -> dict[str, Any]:
        """What the trainer chose, for result.json."""
        return {"batch_size": self.batch_size, "world_size": self.dist.world_size,
                "effective_batch": self.effective_batch, "schedule_batch_size": self.schedule.batch_size,
                "lr_rule": self.options.lr_rule, "lr_factor": self.lr_factor, "options": asdict(self.options)}

    # -- data ---------------------------------------------------------------------------
    def _batches(self, epoch: int, start_iter: int) -> list[list[tuple[int, int, int]]]:
        """This process's batches of `epoch` from `start_iter` on: global batch i is split into
        world_size consecutive shards, and rank r takes shard r (items carry their own augmentation
        seeds, so each rank's data is fixed by (seed, epoch, rank) whatever the worker count)."""
        bs, world, rank = self.batch_size, self.dist.world_size, self.dist.rank
        items = epoch_items(len(self.dataset.a), len(self.dataset.b), self.paired, self.seed, epoch,
                            limit=self.iters_per_epoch * bs * world)
        batches = [items[(i * world + rank) * bs:(i * world + rank + 1) * bs] for i in range(self.iters_per_epoch)]
        return batches[start_iter:]

    def _loader(self, batches: list) -> DataLoader:
        return DataLoader(self.dataset, batch_sampler=batches, collate_fn=collate,
                          num_workers=self.device.num_workers, pin_memory=self.device.pin_memory,
                          prefetch_factor=4 if self.device.num_workers else None,
                          persistent_workers=False, worker_init_fn=preemption.ignore_in_worker,
                          # A private generator: creating a loader must not draw from the global RNG,
                          # or a resumed run's dropout noise would differ from an uninterrupted run's.
                          generator=torch.Generator().manual_seed(self.seed))

    def _set_lr(self, epoch: int, iteration: int) -> None:
        factor = self.schedule.lr_factor(epoch, iteration, self.iters_per_epoch)
        for opt in self.method.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = group["initial_lr"] * factor

    # -- loop ---------------------------------------------------------------------------
    def fit(self, stop_at_step: Optional[int] = None, from_previous: bool = False) -> TrainOutcome:
        """Train to the schedule's end, resuming from `latest.pt` if there is one.

        `from_previous`: the latest checkpoint is damaged; set it aside and continue from `previous.pt`."""
        start = time.perf_counter()
        step = epoch = iteration = 0
        history_wall = 0.0
        main = self.dist.is_main
        # The interval's loss sums go into checkpoints, so a resumed run logs what an uninterrupted one does.
        tracker = self._tracker = LossTracker(self.device.device)
        last: dict[str, float] = {}
        if main and from_previous:
            use_previous(self.checkpoint_path, self.previous_path)
        distributed.barrier(self.dist)
        if from_previous and not self.checkpoint_path.exists():
            raise CheckpointError(f"--from-previous: {self.run_dir} has no {PREVIOUS_NAME} to continue from")
        if self.checkpoint_path.exists():
            payload = load_checkpoint(self.checkpoint_path, self.method)
            pos = payload["position"]
            step, epoch, iteration = pos["step"], pos["epoch"], pos["iteration"]
            history_wall = payload["trainer"].get("wall_time_s", 0.0)
            log.info("resuming from step %d (epoch %d, iteration %d)", step, epoch, iteration)
            saved_world = payload["trainer"].get("world_size", 1)
            if saved_world != self.dist.world_size:
                raise HarnessError(f"checkpoint {self.checkpoint_path} was written by {saved_world} process(es); "
                                   f"resume it with the same number (not {self.dist.world_size}), since the "
                                   "position within the epoch depends on it")
            if step > self.total_steps:
                raise HarnessError(f"checkpoint {self.checkpoint_path} is at step {step}, past the schedule's "
                                   f"{self.total_steps} steps; it belongs to another schedule")
            restore_tracker(tracker, payload["trainer"])
            if main:  # the log holds each step once: drop what was logged after the checkpoint
                last = truncate_loss_log(self.run_dir / "losses.jsonl", step)
        if self.dist.enabled:
            # Each rank its own random stream (dropout, noise), fixed by (seed, rank, position).
            torch.manual_seed(hash((self.seed, self.dist.rank, step)) & 0x7FFF_FFFF)
        resumed_from = step
        losses_log = (self.run_dir / "losses.jsonl").open("a", encoding="utf-8") if main else None
        bar = tqdm(total=self.total_steps, initial=step, desc=f"train {self.run_dir.parent.name}",
                   unit="it", disable=None if main else True, dynamic_ncols=True)
        self.monitor.start(step)
        watcher = preemption.watch()
        try:
            while epoch < self.schedule.epochs:
                for batch in self._loader(self._batches(epoch, iteration)):
                    self._set_lr(epoch, iteration)
                    self.method.step_count = step
                    tracker.add(train_step(self.method, self.device, batch))
                    step += 1
                    iteration += 1
                    bar.update(1)
                    end_of_epoch = iteration == self.iters_per_epoch
                    if step % self.schedule.log_every == 0 or end_of_epoch:
                        last = self._log(step, epoch, tracker, losses_log, bar)
                    if end_of_epoch:
                        epoch, iteration = epoch + 1, 0
                    saved = step % self.schedule.checkpoint_every == 0 or step == self.total_steps or \
                        (end_of_epoch and self.schedule.checkpoint_epoch_ends)
                    if saved:
                        self._check_finite(tracker.bad, step)
                        self._save(step, epoch, iteration, history_wall + time.perf_counter() - start)
                    self.monitor.after_step(step, self.method, self.device)
                    if stop_at_step is not None and step >= stop_at_step:
                        raise Interrupted(f"stopped at step {step} as asked")
                    if watcher.stop_requested(self.dist, step):  # SIGTERM/SIGUSR: checkpoint now, stop
                        if not saved:  # a step that was just checkpointed is not written twice
                            self._save(step, epoch, iteration, history_wall + time.perf_counter() - start)
                        raise preemption.Preempted(watcher.signum, step, self.checkpoint_path)
        finally:
            watcher.uninstall()
            bar.close()
            self.monitor.close()
            if losses_log is not None:
                losses_log.close()
        self._check_finite(tracker.bad, step)
        if self.dist.enabled:
            distributed.average_float_buffers(self.method)
        return TrainOutcome(step, epoch, history_wall + time.perf_counter() - start, resumed_from, last)

    def ranks_agree(self) -> list[str]:
        """Every rank's weights digest; raises if the ranks hold different weights."""
        digests = distributed.gather_strings(self.dist, distributed.weights_digest(self.method))
        if len(set(digests)) > 1:
            raise HarnessError(f"data-parallel ranks ended with different weights: {digests}")
        return digests

    def _save(self, step: int, epoch: int, iteration: int, wall: float) -> None:
        """Checkpoint on rank 0 while the other ranks wait, so all continue from the same file."""
        if self.dist.enabled:
            distributed.average_float_buffers(self.method)
        bad = non_finite_weights(self.method)  # never checkpoint weights a loss check missed
        if bad:
            raise NonFiniteLossError(f"{len(bad)} weight tensor(s) became NaN or inf by step {step} (e.g. {bad[0]}); "
                                     f"training stopped without checkpointing them; {self._kept()}")
        if self.dist.is_main:
            save_checkpoint(self.checkpoint_path, self.method,
                            {"step": step, "epoch": epoch, "iteration": iteration},
                            {"wall_time_s": wall, "world_size": self.dist.world_size, **tracker_state(self._tracker)})
        distributed.barrier(self.dist)

    def _log(self, step: int, epoch: int, tracker: LossTracker, sink, bar) -> dict[str, float]:
        # The only host-device sync in the loop: once per logging interval.
        self._check_finite(tracker.bad, step)
        # Rounded as logged, so a resumed run's last losses (read back from the log) are the same.
        means = {k: round(v, 6) for k, v in tracker.pop_means().items()}
        if sink is not None:
            sink.write(json.dumps({"step": step, "epoch": epoch, **means}) + "\n")
            sink.flush()
        bar.set_postfix({k: f"{v:.3f}" for k, v in list(means.items())[:4]}, refresh=False)
        self.monitor.log(step, epoch, means)
        return means

    def _check_finite(self, bad: torch.Tensor, step: int) -> None:
        if bool(bad):
            raise NonFiniteLossError(f"a loss became NaN or inf by step {step}; training stopped and {self._kept()}")

    def _kept(self) -> str:
        return f"the last good checkpoint is {self.checkpoint_path}" if self.checkpoint_path.exists() \
            else "no checkpoint was written yet"
