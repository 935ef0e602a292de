"""The one training loop every method runs on.

It owns the data stream, devices, AMP and channels_last on CUDA, learning-rate schedule,
progress bar, loss log, non-finite loss detection, periodic full-state checkpoints and
resume. Methods only provide networks, optimizers and `training_step`.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from harness.data.datasets import TrainSet, collate, epoch_items
from harness.data.prepare import PreparedData
from harness.errors import HarnessError
from harness.schedules import Schedule
from harness.tasks import ImageSpec
from harness.training.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from harness.training.device import DeviceSetup
from harness.training.method import Method

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


def iters_per_epoch(n_items: int, schedule: Schedule) -> int:
    n = n_items if schedule.max_iters_per_epoch is None else min(n_items, schedule.max_iters_per_epoch)
    return max(1, n // schedule.batch_size)


class Trainer:
    def __init__(self, method: Method, data: PreparedData, schedule: Schedule, image: ImageSpec,
                 device: DeviceSetup, run_dir: Path, seed: int, paired: bool):
        self.method, self.data, self.schedule, self.device = method, data, schedule, device
        self.run_dir, self.seed = run_dir, seed
        self.dataset = TrainSet(data.split, image, paired)
        self.paired = paired
        self.iters_per_epoch = iters_per_epoch(len(self.dataset), schedule)
        self.total_steps = self.iters_per_epoch * schedule.epochs
        self.checkpoint_path = run_dir / "checkpoints" / CHECKPOINT_NAME
        for opt in method.optimizers.values():
            for group in opt.param_groups:
                group.setdefault("initial_lr", group["lr"])

    # -- data ---------------------------------------------------------------------------
    def _batches(self, epoch: int, start_iter: int) -> list[list[tuple[int, int, int]]]:
        bs = self.schedule.batch_size
        items = epoch_items(len(self.dataset.a), len(self.dataset.b), self.paired, self.seed, epoch,
                            limit=self.iters_per_epoch * bs)
        batches = [items[i:i + bs] for i in range(0, self.iters_per_epoch * bs, bs)]
        return batches[start_iter:]

    def _loader(self, batches: list) -> DataLoader:
        return DataLoader(self.dataset, batch_sampler=batches, collate_fn=collate,
                          num_workers=self.device.num_workers, pin_memory=self.device.pin_memory,
                          prefetch_factor=4 if self.device.num_workers else None,
                          # A private generator: creating a loader must not draw from the global RNG,
                          # or a resumed run's dropout noise would differ from an uninterrupted run's.
                          generator=torch.Generator().manual_seed(self.seed))

    def _set_lr(self, epoch: int, iteration: int) -> None:
        factor = self.schedule.lr_factor(epoch, iteration, self.iters_per_epoch)
        for opt in self.method.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = group["initial_lr"] * factor

    # -- loop ---------------------------------------------------------------------------
    def fit(self, stop_at_step: Optional[int] = None) -> TrainOutcome:
        start = time.perf_counter()
        step = epoch = iteration = 0
        history_wall = 0.0
        if self.checkpoint_path.exists():
            payload = load_checkpoint(self.checkpoint_path, self.method)
            pos = payload["position"]
            step, epoch, iteration = pos["step"], pos["epoch"], pos["iteration"]
            history_wall = payload["trainer"].get("wall_time_s", 0.0)
            log.info("resuming from step %d (epoch %d, iteration %d)", step, epoch, iteration)
            if step > self.total_steps:
                raise HarnessError(f"checkpoint {self.checkpoint_path} is at step {step}, past the schedule's "
                                   f"{self.total_steps} steps; it belongs to another schedule")
        resumed_from = step
        losses_log = (self.run_dir / "losses.jsonl").open("a", encoding="utf-8")
        sums: dict[str, torch.Tensor] = {}
        count = 0
        bad = torch.zeros((), dtype=torch.bool, device=self.device.device)
        last: dict[str, float] = {}
        bar = tqdm(total=self.total_steps, initial=step, desc=f"train {self.run_dir.parent.name}",
                   unit="it", disable=None, dynamic_ncols=True)
        try:
            while epoch < self.schedule.epochs:
                for batch in self._loader(self._batches(epoch, iteration)):
                    self._set_lr(epoch, iteration)
                    self.method.step_count = step
                    batch = self.device.to_device(batch)
                    with self.method.autocast():
                        losses = self.method.training_step(batch)
                    for name, value in losses.items():
                        value = value.detach().float()
                        bad |= ~torch.isfinite(value)
                        sums[name] = sums[name] + value if name in sums else value.clone()
                    count += 1
                    step += 1
                    iteration += 1
                    bar.update(1)
                    end_of_epoch = iteration == self.iters_per_epoch
                    if step % self.schedule.log_every == 0 or end_of_epoch:
                        last = self._log(step, epoch, sums, count, bad, losses_log, bar)
                        sums, count = {}, 0
                    if end_of_epoch:
                        epoch, iteration = epoch + 1, 0
                    if step % self.schedule.checkpoint_every == 0 or end_of_epoch:
                        self._check_finite(bad, step)
                        wall = history_wall + time.perf_counter() - start
                        save_checkpoint(self.checkpoint_path, self.method,
                                        {"step": step, "epoch": epoch, "iteration": iteration},
                                        {"wall_time_s": wall})
                    if stop_at_step is not None and step >= stop_at_step:
                        raise Interrupted(f"stopped at step {step} as asked")
        finally:
            bar.close()
            losses_log.close()
        self._check_finite(bad, step)
        return TrainOutcome(step, epoch, history_wall + time.perf_counter() - start, resumed_from, last)

    def _log(self, step: int, epoch: int, sums: dict[str, torch.Tensor], count: int, bad: torch.Tensor,
             sink, bar) -> dict[str, float]:
        # The only host-device sync in the loop: once per logging interval.
        self._check_finite(bad, step)
        means = {k: float(v) / max(count, 1) for k, v in sums.items()}
        sink.write(json.dumps({"step": step, "epoch": epoch, **{k: round(v, 6) for k, v in means.items()}}) + "\n")
        sink.flush()
        bar.set_postfix({k: f"{v:.3f}" for k, v in list(means.items())[:4]}, refresh=False)
        return means

    def _check_finite(self, bad: torch.Tensor, step: int) -> None:
        if bool(bad):
            kept = f"the last good checkpoint is {self.checkpoint_path}" if self.checkpoint_path.exists() \
                else "no checkpoint was written yet"
            raise NonFiniteLossError(f"a loss became NaN or inf by step {step}; training stopped and {kept}")

