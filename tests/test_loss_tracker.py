from __future__ import annotations

import torch

from harness.training.trainer import LossTracker


def test_each_loss_is_averaged_over_the_steps_that_reported_it():
    tracker = LossTracker(torch.device("cpu"))
    tracker.add({"D": torch.tensor(1.0), "G": torch.tensor(4.0)})
    tracker.add({"D": torch.tensor(3.0)})  # a critic-only step: no generator loss
    assert tracker.pop_means() == {"D": 2.0, "G": 4.0}
    assert tracker.pop_means() == {}
    assert not bool(tracker.bad)
    tracker.add({"D": torch.tensor(float("nan"))})
    assert bool(tracker.bad)
