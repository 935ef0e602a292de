"""One training step as the trainer runs it, and the on-device loss bookkeeping.

Kept apart from the trainer (which also needs the data stack: numpy, Pillow, tqdm) so that
`harness bench` and the GPU check (`harness.gpu_check`) time exactly the trainer's step on a
machine that has nothing but torch.
"""
from __future__ import annotations

from typing import Any

import torch

from harness.training.device import DeviceSetup
from harness.training.method import Method


def train_step(method: Method, device: DeviceSetup, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Move one batch onto the device and run the method's step under the device's autocast."""
    batch = device.to_device(batch)
    with method.autocast():
        return method.training_step(batch)


class LossTracker:
    """Running sums of the step losses and a non-finite flag, all kept on the device (no sync).

    Each loss is averaged over the steps that reported it, so a method that updates a network
    only every few steps (StarGAN's n_critic) can return that network's losses only then.
    """

    def __init__(self, device: torch.device):
        self.bad = torch.zeros((), dtype=torch.bool, device=device)
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, losses: dict[str, torch.Tensor]) -> None:
        for name, value in losses.items():
            value = value.detach().float()
            self.bad |= ~torch.isfinite(value)
            self.sums[name] = self.sums[name] + value if name in self.sums else value.clone()
            self.counts[name] = self.counts.get(name, 0) + 1

    def pop_means(self) -> dict[str, float]:
        """The interval's mean losses (the host-device sync happens here) and a fresh interval."""
        means = {k: float(v) / self.counts[k] for k, v in self.sums.items()}
        self.sums, self.counts = {}, {}
        return means
