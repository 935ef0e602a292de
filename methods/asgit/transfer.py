"""From attention map to generator input: the transfer block g and the two injections.

- `LearnedTransfer` is g of Eqs. 4-5: three stride-2 transposed convolutions (x8, so a map on the
  1/8 grid comes out at image size) and a sigmoid, as the reference supervised code builds it.
- `FixedTransfer` is what the reference unsupervised code does instead: no parameters, a bilinear
  resize of the (already normalised) map.
- `inject`: RHP x·(1 + w) (Eq. 4) or Alpha [x, w] as a fourth channel (Eq. 5, RGBA reading).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness.nets import norm_layer


class LearnedTransfer(nn.Module):
    """g(M): 1→64→128→1 channels, each a 3x3 stride-2 ConvTranspose (x2 per layer), IN + ReLU between,
    then `last_norm` on the one-channel logits and a sigmoid.

    The reference applies an InstanceNorm (declared for 64 channels) to the final one-channel map,
    which standardises each logit map before the sigmoid; `last_norm="instance"` keeps that,
    `"none"` drops it.
    """

    upsampling = 8

    def __init__(self, hidden: int = 64, last_norm: str = "instance"):
        super().__init__()

        def up(cin: int, cout: int) -> nn.ConvTranspose2d:
            return nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)

        self.net = nn.Sequential(up(1, hidden), norm_layer("instance", hidden), nn.ReLU(True),
                                 up(hidden, hidden * 2), norm_layer("instance", hidden * 2), nn.ReLU(True),
                                 up(hidden * 2, 1), norm_layer(last_norm, 1), nn.Sigmoid())

    def forward(self, attention: torch.Tensor, size: int) -> torch.Tensor:
        w = self.net(attention)
        if w.shape[-1] != size or w.shape[-2] != size:
            w = F.interpolate(w, size=(size, size), mode="bilinear", align_corners=False)
        return w


class FixedTransfer(nn.Module):
    """The reference unsupervised models' 'transfer': the map itself, bilinearly resized to the image."""

    def forward(self, attention: torch.Tensor, size: int) -> torch.Tensor:
        if attention.shape[-1] == size and attention.shape[-2] == size:
            return attention
        return F.interpolate(attention, size=(size, size), mode="bilinear", align_corners=False)


def build_transfer(kind: str, last_norm: str) -> nn.Module:
    if kind == "learned":
        return LearnedTransfer(last_norm=last_norm)
    if kind == "fixed":
        return FixedTransfer()
    raise ValueError(f"unknown transfer_block {kind!r}; use learned or fixed")


def inject(images: torch.Tensor, weights: torch.Tensor, injection: str) -> torch.Tensor:
    """RHP: images·(1 + weights) (amplifies, never removes, the input); Alpha: [images, weights]."""
    weights = weights.to(images.dtype)
    if injection == "rhp":
        return images * (1 + weights)
    if injection == "alpha":
        return torch.cat([images, weights], 1)
    raise ValueError(f"unknown injection {injection!r}; use rhp or alpha")


def unguided(images: torch.Tensor, injection: str) -> torch.Tensor:
    """The reference code's input when no map guides a pass: RHP factor 1 (the images), Alpha a
    constant-ones fourth channel."""
    if injection == "rhp":
        return images
    ones = torch.ones_like(images[:, :1])
    return torch.cat([images, ones], 1)
