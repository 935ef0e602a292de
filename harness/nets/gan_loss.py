"""Adversarial objectives on (patch) discriminator outputs: LSGAN, vanilla (BCE with logits), WGAN."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GANLoss(nn.Module):
    """`loss(prediction, target_is_real)`: MSE to 1/0 (lsgan), BCE-with-logits (vanilla) or ∓mean (wgangp)."""

    def __init__(self, mode: str):
        super().__init__()
        if mode not in ("lsgan", "vanilla", "wgangp"):
            raise ValueError(f"unknown GAN loss {mode!r}; use lsgan, vanilla or wgangp")
        self.mode = mode

    def forward(self, prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        prediction = prediction.float()  # loss arithmetic in fp32 under autocast
        if self.mode == "wgangp":
            return -prediction.mean() if target_is_real else prediction.mean()
        target = torch.ones_like(prediction) if target_is_real else torch.zeros_like(prediction)
        if self.mode == "lsgan":
            return F.mse_loss(prediction, target)
        return F.binary_cross_entropy_with_logits(prediction, target)
