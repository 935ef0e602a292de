"""AGGAN's networks (Mejjati et al., NeurIPS 2018), as in the official TF1 code
(AlamiMejjati/Unsupervised-Attention-guided-Image-to-Image-Translation, `model.py`, `layers.py`).

Generator: ResNet-9 with ngf 32, zero padding, affine IN, ReLU after each residual add, TF
"SAME" stride-2 convs (padding on the bottom/right only) and the matching transposed convs.
Attention net: a small encoder-decoder (reflect-padded stride-2 conv7, stride-2 conv3, one
residual block, two nearest ×2 upsamplings) ending in a sigmoid; the released code's tail convs
are 1×1 (`attn_tail_kernel=1`), the paper-described ones 3×3/3×3/7×7 (`attn_tail_kernel=3`).
Discriminator: five 4×4 convs each after zero-padding 2, on the input multiplied by the
binarised attention mask `mask ≥ threshold`; IN on the first four layers only while `donorm`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def tf_instance_norm(channels: int) -> nn.InstanceNorm2d:
    """TF `instance_norm`: per-image moments, eps 1e-5, learnable scale (init N(1, 0.02)) and offset."""
    norm = nn.InstanceNorm2d(channels, eps=1e-5, affine=True)
    nn.init.normal_(norm.weight, 1.0, 0.02)
    nn.init.zeros_(norm.bias)
    return norm


class SameConv(nn.Module):
    """TF padding='SAME' conv: output ceil(n/stride); an odd total padding puts the extra pixel bottom/right."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int):
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.conv = nn.Conv2d(cin, cout, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for n in (x.size(3), x.size(2)):  # F.pad order: last dim first
            out = -(-n // self.stride)
            total = max((out - 1) * self.stride + self.kernel - n, 0)
            pads += [total // 2, total - total // 2]
        return self.conv(F.pad(x, pads))


class SameConvTranspose(nn.Module):
    """TF conv2d_transpose with padding='SAME', stride 2, kernel 3: output exactly 2× the input,
    aligned as the transpose of a SAME conv (its padding sits at the bottom/right)."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 2):
        super().__init__()
        self.stride = stride
        self.conv = nn.ConvTranspose2d(cin, cout, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.size(2) * self.stride, x.size(3) * self.stride
        return self.conv(x)[:, :, :h, :w]


class AGResBlock(nn.Module):
    """pad1-conv3-IN-ReLU-pad1-conv3-IN, added to the input, then ReLU (zero pad in G, reflect in A)."""

    def __init__(self, dim: int, pad: str):
        super().__init__()
        pad_layer = nn.ZeroPad2d if pad == "zero" else nn.ReflectionPad2d
        self.body = nn.Sequential(pad_layer(1), nn.Conv2d(dim, dim, 3), tf_instance_norm(dim), nn.ReLU(True),
                                  pad_layer(1), nn.Conv2d(dim, dim, 3), tf_instance_norm(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


class AGGenerator(nn.Sequential):
    def __init__(self, channels: int = 3, ngf: int = 32, n_blocks: int = 9):
        layers: list[nn.Module] = [nn.ZeroPad2d(3), nn.Conv2d(channels, ngf, 7), tf_instance_norm(ngf), nn.ReLU(True),
                                   SameConv(ngf, ngf * 2, 3, 2), tf_instance_norm(ngf * 2), nn.ReLU(True),
                                   SameConv(ngf * 2, ngf * 4, 3, 2), tf_instance_norm(ngf * 4), nn.ReLU(True)]
        layers += [AGResBlock(ngf * 4, "zero") for _ in range(n_blocks)]
        layers += [SameConvTranspose(ngf * 4, ngf * 2), tf_instance_norm(ngf * 2), nn.ReLU(True),
                   SameConvTranspose(ngf * 2, ngf), tf_instance_norm(ngf), nn.ReLU(True),
                   SameConv(ngf, channels, 7, 1), nn.Tanh()]
        super().__init__(*layers)


class AttentionNet(nn.Sequential):
    """Image → one-channel attention map in (0, 1) at the input resolution."""

    def __init__(self, channels: int = 3, ngf: int = 32, tail_kernel: int = 1):
        k45, k6 = (1, 1) if tail_kernel == 1 else (3, 7)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3), nn.Conv2d(channels, ngf, 7, 2), tf_instance_norm(ngf), nn.ReLU(True),
            SameConv(ngf, ngf * 2, 3, 2), tf_instance_norm(ngf * 2), nn.ReLU(True),
            AGResBlock(ngf * 2, "reflect"),
            nn.Upsample(scale_factor=2, mode="nearest"), SameConv(ngf * 2, ngf * 2, k45, 1), tf_instance_norm(ngf * 2),
            nn.ReLU(True),
            nn.Upsample(scale_factor=2, mode="nearest"), SameConv(ngf * 2, ngf, k45, 1), tf_instance_norm(ngf), nn.ReLU(True),
            SameConv(ngf, 1, k6, 1), nn.Sigmoid()]
        super().__init__(*layers)


class MaskedDiscriminator(nn.Module):
    """LSGAN patch critic on `x · [mask ≥ threshold]`; `donorm` switches its IN layers on or off."""

    def __init__(self, channels: int = 3, ndf: int = 64):
        super().__init__()
        widths = [channels, ndf, ndf * 2, ndf * 4, ndf * 8]
        self.convs = nn.ModuleList(nn.Conv2d(widths[i], widths[i + 1], 4, 2 if i < 3 else 1) for i in range(4))
        self.norms = nn.ModuleList(tf_instance_norm(w) for w in widths[1:])
        self.last = nn.Conv2d(ndf * 8, 1, 4, 1)
        self.donorm = True

    def forward(self, x: torch.Tensor, mask: torch.Tensor, threshold: float) -> torch.Tensor:
        x = x * (mask >= threshold).to(x.dtype)
        for conv, norm in zip(self.convs, self.norms):
            x = conv(F.pad(x, [2, 2, 2, 2]))
            if self.donorm:
                x = norm(x)
            x = F.leaky_relu(x, 0.2)
        return self.last(F.pad(x, [2, 2, 2, 2]))


def init_tf(net: nn.Module, std: float = 0.02) -> nn.Module:
    """The TF code's initialiser: truncated normal (±2σ) conv weights, zero biases; IN as built."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.trunc_normal_(m.weight, 0.0, std, -2 * std, 2 * std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return net
