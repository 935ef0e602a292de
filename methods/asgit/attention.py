"""Where the discriminator looks: PHA (post-hoc, Eq. 2) and TAM (trainable branch, Eq. 3).

Both discriminators answer `D(x)` with PatchGAN logits, so the CycleGAN / pix2pix discriminator
steps use them unchanged, and `D(x, with_map=True)` with `(logits, raw_map)`. The raw map is a
detached (B, 1, h, w) tensor at 1/8 of the image side: it is guidance data for the generator, never
a path for gradients (the reference code detaches it too). `finish_map` applies the optional
normalisation and brings the map to the memory's grid.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness.nets import PatchDiscriminator, norm_layer
from harness.nets.norm import uses_bias


class PHADiscriminator(nn.Module):
    """An unchanged 70x70 PatchGAN; the map is the channel mean of |activations| of block `layer`.

    `layer=3` taps the output of the third conv block (C256, stride 8: the reference code's tap);
    `layer=4` the output of the fourth (C512, stride 1, one pixel smaller).
    """

    def __init__(self, in_channels: int, ndf: int = 64, norm: str = "instance", layer: int = 3):
        super().__init__()
        if layer not in (1, 2, 3, 4):
            raise ValueError(f"pha_layer must be 1..4 (a conv block of the 70x70 PatchGAN), got {layer}")
        self.net = PatchDiscriminator(in_channels, ndf, 3, norm)
        self.layer = layer

    def forward(self, x: torch.Tensor, with_map: bool = False):
        if not with_map:
            return self.net(x)
        logits, features = self.net(x, return_features=True)
        # Post-hoc: a read-out of the activations, not a trained output, so no gradient flows through it.
        raw = features[self.layer - 1].detach().float().abs().mean(1, keepdim=True)  # float32 under autocast too
        return logits, raw


class _SoftMaskBranch(nn.Module):
    """The residual-attention soft-mask branch with plain convs (reference code minus its unused
    `mp3`/`u1`/`s1` parts): two max-pools to 1/8 size, a skip and a two-conv middle path, then
    conv3-norm-ReLU, conv1-norm, conv1, sigmoid. Bias-free convs, as in the reference."""

    def __init__(self, in_channels: int, out_channels: int, norm: str):
        super().__init__()

        def conv3(cin: int, cout: int) -> nn.Conv2d:
            return nn.Conv2d(cin, cout, 3, 1, 1, bias=False)

        self.down = nn.Sequential(nn.MaxPool2d(3, 2, 1), conv3(in_channels, in_channels), nn.ReLU(True),
                                  nn.MaxPool2d(3, 2, 1), conv3(in_channels, in_channels), nn.ReLU(True))
        self.skip = nn.Sequential(conv3(in_channels, in_channels), nn.ReLU(True))
        self.middle = nn.Sequential(conv3(in_channels, in_channels), nn.ReLU(True),
                                    conv3(in_channels, in_channels), nn.ReLU(True))
        self.out = nn.Sequential(conv3(in_channels, out_channels), norm_layer(norm, out_channels), nn.ReLU(True),
                                 nn.Conv2d(out_channels, out_channels, 1, bias=False), norm_layer(norm, out_channels),
                                 nn.Conv2d(out_channels, out_channels, 1, bias=False), nn.Sigmoid())

    def forward(self, features: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        pooled = self.down(features)
        middle = self.middle(pooled)
        # The reference resizes the middle path to a fixed `s2` that must equal H/8; here it follows
        # the trunk's grid, so any image size works (a no-op whenever the sizes already agree).
        if middle.shape[-2:] != size:
            middle = F.interpolate(middle, size=size, mode="bilinear", align_corners=True)
        skip = self.skip(pooled)
        if skip.shape[-2:] != size:
            skip = F.interpolate(skip, size=size, mode="bilinear", align_corners=True)
        return self.out(skip + middle)


class TAMDiscriminator(nn.Module):
    """PatchGAN with a trainable attention module: stem → trunk T and soft mask A, head on (A + 1)·T.

    The map is the channel mean of A, in (0, 1). The adversarial loss trains the mask branch through
    the head; `branch_norm` is the branch's norm (the reference hard-codes BatchNorm).
    """

    def __init__(self, in_channels: int, ndf: int = 64, norm: str = "instance", branch_norm: str = "batch"):
        super().__init__()
        bias = uses_bias(norm)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True))
        self.trunk = nn.Sequential(
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=bias), norm_layer(norm, ndf * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=bias), norm_layer(norm, ndf * 4), nn.LeakyReLU(0.2, True))
        self.mask = _SoftMaskBranch(ndf, ndf * 4, branch_norm)
        self.head = nn.Sequential(
            nn.Conv2d(ndf * 4, ndf * 8, 4, 1, 1, bias=bias), norm_layer(norm, ndf * 8), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 8, 1, 4, 1, 1))

    def forward(self, x: torch.Tensor, with_map: bool = False):
        features = self.stem(x)
        trunk = self.trunk(features)
        attention = self.mask(features, tuple(trunk.shape[-2:]))
        logits = self.head((attention + 1) * trunk)  # Eq. 3: E = (A + 1) x T
        if not with_map:
            return logits
        # The channel mean in float32: under bf16 autocast a bf16 mean of 256 sigmoid channels
        # rounds the whole map to a dozen values (8-bit mantissa near 0.5).
        return logits, attention.detach().float().mean(1, keepdim=True)


def build_attention_discriminator(kind: str, in_channels: int, ndf: int, norm: str, pha_layer: int,
                                  tam_branch_norm: str) -> nn.Module:
    """`pha` or `tam` discriminator for `in_channels` inputs."""
    if kind == "pha":
        return PHADiscriminator(in_channels, ndf, norm, pha_layer)
    if kind == "tam":
        return TAMDiscriminator(in_channels, ndf, norm, tam_branch_norm)
    raise ValueError(f"unknown attention {kind!r}; use pha or tam")


def normalise_map(raw: torch.Tensor, mode: str, scope: str, eps: float) -> torch.Tensor:
    """Min-max normalisation (Eq. 2) per sample or over the whole batch; the denominator is clamped
    at `eps` so a constant map becomes 0 instead of NaN. `mode="none"` returns the map as is."""
    if mode == "none":
        return raw
    if mode != "minmax":
        raise ValueError(f"unknown attention normalisation {mode!r}; use minmax or none")
    dims = tuple(range(1, raw.dim())) if scope == "sample" else tuple(range(raw.dim()))
    low = raw.amin(dim=dims, keepdim=True)
    high = raw.amax(dim=dims, keepdim=True)
    return (raw - low) / (high - low).clamp_min(eps)


def finish_map(raw: torch.Tensor, size: int, mode: str, scope: str, eps: float) -> torch.Tensor:
    """Normalise a raw map and bring it to the `size`x`size` memory grid (bilinear when it differs)."""
    m = normalise_map(raw.float(), mode, scope, eps)
    if m.shape[-1] != size or m.shape[-2] != size:
        m = F.interpolate(m, size=(size, size), mode="bilinear", align_corners=False)
    return m
