"""`identity`: the input image as the translation, a reference row (the "do nothing" floor)."""
from __future__ import annotations

from typing import Any

import torch

from harness.registry import register_method
from harness.training.method import Method


@register_method("identity", description="reference row: the input image as the translation (no training)")
class Identity(Method):
    settings = ("unsupervised", "supervised")
    # Nothing to learn: the pipeline skips the training loop and writes no checkpoint.
    trainable = False

    def __init__(self, config, context):
        super().__init__(config, context)
        # A zero-size buffer gives the module a device for the trainer's device handling.
        self.register_buffer("_anchor", torch.zeros(0), persistent=False)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {}

    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return {}

    def translate(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        return images.clone()
