"""The PatchGAN discriminator (70x70 receptive field for n_layers=3, as pix2pix and CycleGAN).

Layers are kept as a list of blocks so attention methods can tap intermediate activations
(`forward(x, return_features=True)`) without a copy of the network.
"""
from __future__ import annotations

import torch
from torch import nn

from harness.nets.norm import norm_layer, uses_bias


class PatchDiscriminator(nn.Module):
    """C64 (no norm) - C128 - C256 (stride 2) - C512 (stride 1) - 1-channel map, LeakyReLU 0.2, no sigmoid."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "instance"):
        super().__init__()
        bias = uses_bias(norm)
        blocks: list[nn.Module] = [nn.Sequential(nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True))]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            blocks.append(nn.Sequential(nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1, bias=bias),
                                        norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True)))
        blocks.append(nn.Sequential(nn.Conv2d(ndf * mult, 1, 4, 1, 1)))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        """The patch logits; with `return_features`, also each block's output (conv layers 1..n+2)."""
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return (x, features[:-1]) if return_features else x
