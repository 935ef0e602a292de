"""The `protocol` choice shared by the re-implemented baselines (UNIT, StarGAN, AGGAN).

`asgit_shared`: the ASGIT paper's recipe for all networks (Adam 2e-4, the schedule's epochs and
learning-rate rule). `original`: the baseline's own code (its learning rate and its own
learning-rate rule, applied by the method on top of the trainer). The run length is always the
schedule's: the shared trainer owns the loop. Leaderboards compare `asgit_shared` rows.
"""
from __future__ import annotations

import dataclasses
from typing import Literal, TypeVar

from harness.training.method import Method

Protocol = Literal["asgit_shared", "original"]
C = TypeVar("C")


def with_original_lr(config: C, original_lr: float) -> C:
    """Under `original`, an unset lr becomes the baseline's own; under `asgit_shared` the schedule's."""
    if getattr(config, "lr") is None and getattr(config, "protocol") == "original":
        return dataclasses.replace(config, lr=original_lr)  # type: ignore[type-var]
    return config


def set_lr_factor(method: Method, factor: float) -> None:
    """Replace the trainer's learning-rate multiplier for this step by the method's own rule."""
    for opt in method.optimizers.values():
        for group in opt.param_groups:
            group["lr"] = group.get("initial_lr", group["lr"]) * factor
