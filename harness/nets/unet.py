"""The pix2pix U-Net generator: `depth` stride-2 downs with skip connections, dropout in the three
decoder blocks after the innermost. depth 8 for 256 px (unet_256), 7 for 128 px (unet_128)."""
from __future__ import annotations

import math

import torch
from torch import nn

from harness.nets.norm import norm_layer, uses_bias


def unet_depth_for(image_size: int) -> int:
    """Downsamplings that bring `image_size` to 1x1 (8 for 256, 7 for 128, 5 for 32)."""
    depth = int(math.log2(image_size))
    if 2 ** depth != image_size or depth < 5:
        raise ValueError(f"a U-Net needs a power-of-two image size of at least 32, got {image_size}")
    return depth


class _Level(nn.Module):
    """One U-Net level: down → inner → up, concatenated with the input except at the outermost."""

    def __init__(self, outer: int, inner: int, in_channels: int, submodule: nn.Module | None,
                 norm: str, dropout: bool, outermost: bool = False, out_channels: int | None = None):
        super().__init__()
        bias = uses_bias(norm)
        innermost = submodule is None
        down = [nn.Conv2d(in_channels, inner, 4, 2, 1, bias=bias)]
        if not outermost:
            down = [nn.LeakyReLU(0.2, True)] + down + ([] if innermost else [norm_layer(norm, inner)])
        up_in = inner if innermost else inner * 2
        if outermost:
            up = [nn.ReLU(True), nn.ConvTranspose2d(up_in, out_channels or outer, 4, 2, 1), nn.Tanh()]
        else:
            up = [nn.ReLU(True), nn.ConvTranspose2d(up_in, outer, 4, 2, 1, bias=bias), norm_layer(norm, outer)]
            if dropout:
                up.append(nn.Dropout(0.5))
        self.outermost = outermost
        self.model = nn.Sequential(*down, *([submodule] if submodule is not None else []), *up)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.model(x)
        return y if self.outermost else torch.cat([x, y], 1)


class UnetGenerator(nn.Module):
    def __init__(self, in_channels: int = 3, out_channels: int = 3, depth: int = 8, ngf: int = 64,
                 norm: str = "batch", dropout: bool = True):
        super().__init__()
        if depth < 5:
            raise ValueError("a U-Net needs at least 5 levels")
        block = _Level(ngf * 8, ngf * 8, ngf * 8, None, norm, False)
        for _ in range(depth - 5):
            block = _Level(ngf * 8, ngf * 8, ngf * 8, block, norm, dropout)
        block = _Level(ngf * 4, ngf * 8, ngf * 4, block, norm, False)
        block = _Level(ngf * 2, ngf * 4, ngf * 2, block, norm, False)
        block = _Level(ngf, ngf * 2, ngf, block, norm, False)
        self.model = _Level(ngf, ngf, in_channels, block, norm, False, outermost=True, out_channels=out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
