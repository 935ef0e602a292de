"""Normalisation layers by name, as the reference GAN codes use them."""
from __future__ import annotations

from torch import nn


def norm_layer(kind: str, channels: int) -> nn.Module:
    """`instance` (affine=False, no running stats, as CycleGAN), `batch` (affine, running stats,
    as pix2pix) or `none`."""
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; use instance, batch or none")


def uses_bias(kind: str) -> bool:
    """Convs before an affine norm need no bias; before InstanceNorm(affine=False) they do."""
    return kind != "batch"
