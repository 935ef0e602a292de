"""The networks of CUT / FastCUT (taesungp/contrastive-unpaired-translation, `models/networks.py`).

- `CUTGenerator`: the CycleGAN ResNet generator with the reference's anti-aliased resampling
  (Zhang, "Making Convolutional Networks Shift-Invariant Again", 2019): each stride-2 conv becomes
  a stride-1 conv, norm, ReLU and a fixed [1,2,1]² blur subsampled by 2; each transposed conv
  becomes a fixed [1,3,3,1]² blur upsampling followed by a 3×3 conv. Its layers are one flat
  list, so a PatchNCE layer index names the same module as the reference's `nce_layers`
  (0: the padded input, 4: first down conv, 8: second down conv, 12/16: residual blocks 1/5).
- `CUTDiscriminator`: the 70×70 PatchGAN, anti-aliased the same way.
- `PatchSampleMLP`: the reference's `PatchSampleF(use_mlp=True)`: per layer a 2-layer MLP
  (Linear–ReLU–Linear, 256 channels) applied to sampled feature vectors, then L2-normalised. The
  reference creates the MLPs at the first forward pass from the feature channels; here they are
  built eagerly from the generator's known channels, so optimizers and checkpoints see them
  from the start. The blur filters are constants (non-persistent buffers), not parameters.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from harness.nets import ResnetBlock, norm_layer
from harness.nets.norm import uses_bias

_BINOMIAL = {3: (1.0, 2.0, 1.0), 4: (1.0, 3.0, 3.0, 1.0)}


def binomial_filter(size: int, channels: int, scale: float = 1.0) -> torch.Tensor:
    """A normalised separable binomial kernel, one copy per channel (depthwise), times `scale`."""
    taps = torch.tensor(_BINOMIAL[size])
    kernel = taps[:, None] * taps[None, :]
    kernel = kernel / kernel.sum() * scale
    return kernel[None, None].repeat(channels, 1, 1, 1)


class BlurDownsample(nn.Module):
    """Reflect-pad by 1, blur with [1,2,1]², keep every second pixel: H → ceil(H / 2)."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("kernel", binomial_filter(3, channels), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.kernel.to(x.dtype), stride=2,
                        groups=x.shape[1])


class BlurUpsample(nn.Module):
    """Replicate-pad by 1, transposed blur with 4·[1,3,3,1]²/64 at stride 2, crop: H → 2H."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("kernel", binomial_filter(4, channels, scale=4.0), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv_transpose2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), self.kernel.to(x.dtype), stride=2,
                               padding=2, groups=x.shape[1])
        # 2H + 2 rows; the reference keeps rows 1 .. 2H (drops the first, then the last of an even filter).
        return y[:, :, 1:-1, 1:-1]


class CUTGenerator(nn.Module):
    """c7s1-ngf, two (anti-aliased) downsamplings, `n_blocks` residual blocks, two upsamplings, c7s1, tanh."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, n_blocks: int = 9,
                 norm: str = "instance", antialias: bool = True, antialias_up: bool = True):
        super().__init__()
        bias = uses_bias(norm)
        layers: list[nn.Module] = []
        channels: list[int] = []  # each layer's output channels, which size the MLP heads

        def add(out: int, *modules: nn.Module) -> None:
            layers.extend(modules)
            channels.extend([out] * len(modules))

        add(in_channels, nn.ReflectionPad2d(3))
        add(ngf, nn.Conv2d(in_channels, ngf, 7, bias=bias), norm_layer(norm, ngf), nn.ReLU(True))
        ch = ngf
        for _ in range(2):
            if antialias:
                add(ch * 2, nn.Conv2d(ch, ch * 2, 3, 1, 1, bias=bias), norm_layer(norm, ch * 2), nn.ReLU(True),
                    BlurDownsample(ch * 2))
            else:
                add(ch * 2, nn.Conv2d(ch, ch * 2, 3, 2, 1, bias=bias), norm_layer(norm, ch * 2), nn.ReLU(True))
            ch *= 2
        add(ch, *[ResnetBlock(ch, norm) for _ in range(n_blocks)])
        for _ in range(2):
            if antialias_up:
                add(ch, BlurUpsample(ch))
                add(ch // 2, nn.Conv2d(ch, ch // 2, 3, 1, 1, bias=bias))
            else:
                add(ch // 2, nn.ConvTranspose2d(ch, ch // 2, 3, 2, 1, output_padding=1, bias=bias))
            ch //= 2
            add(ch, norm_layer(norm, ch), nn.ReLU(True))
        add(ch, nn.ReflectionPad2d(3))
        add(out_channels, nn.Conv2d(ch, out_channels, 7), nn.Tanh())
        self.layers = nn.Sequential(*layers)
        self.layer_channels = tuple(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    def encode(self, x: torch.Tensor, layer_ids: Sequence[int]) -> list[torch.Tensor]:
        """The outputs of the layers `layer_ids` (ascending), running no layer after the last of them."""
        wanted, features = set(layer_ids), []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in wanted:
                features.append(x)
            if i == layer_ids[-1]:
                break
        return features


class CUTDiscriminator(nn.Module):
    """PatchGAN: C64 (no norm) – C128 – C256 each followed by a blur-downsample (or stride 2), C512, 1-channel map."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "instance",
                 antialias: bool = True):
        super().__init__()
        bias = uses_bias(norm)

        def down(c_in: int, c_out: int, use_bias: bool, normed: bool) -> list[nn.Module]:
            conv = nn.Conv2d(c_in, c_out, 4, 1 if antialias else 2, 1, bias=use_bias)
            out = [conv] + ([norm_layer(norm, c_out)] if normed else []) + [nn.LeakyReLU(0.2, True)]
            return out + ([BlurDownsample(c_out)] if antialias else [])

        layers = down(in_channels, ndf, True, False)
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2 ** n, 8)
            layers += down(ndf * prev, ndf * mult, bias, True)
        prev, mult = mult, min(2 ** n_layers, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1, bias=bias), norm_layer(norm, ndf * mult),
                   nn.LeakyReLU(0.2, True), nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def l2_normalize(x: torch.Tensor) -> torch.Tensor:
    """x / (‖x‖₂ + 1e-7) over channels, as the reference's `Normalize(2)`."""
    return x / (x.pow(2).sum(1, keepdim=True).pow(0.5) + 1e-7)


class PatchSampleMLP(nn.Module):
    """Per feature layer a Linear(C, nc)–ReLU–Linear(nc, nc) head on sampled patches, L2-normalised."""

    def __init__(self, in_channels: Sequence[int], nc: int = 256):
        super().__init__()
        self.mlps = nn.ModuleList(nn.Sequential(nn.Linear(c, nc), nn.ReLU(), nn.Linear(nc, nc)) for c in in_channels)

    def forward(self, features: Sequence[torch.Tensor], patch_ids: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Each layer's (B·P, nc) embeddings of the patches `patch_ids` (the same positions in every image)."""
        out = []
        for feature, ids, mlp in zip(features, patch_ids, self.mlps):
            flat = feature.permute(0, 2, 3, 1).flatten(1, 2)  # (B, H·W, C), row-major positions
            sample = flat[:, ids.to(feature.device), :].flatten(0, 1)
            out.append(l2_normalize(mlp(sample).float()))
        return out


def init_cut(net: nn.Module, kind: str = "xavier", gain: float = 0.02) -> nn.Module:
    """The reference's `init_weights`: conv/linear weights xavier-normal (gain 0.02 by default, as
    `--init_type xavier --init_gain 0.02`) or N(0, gain); zero biases; BatchNorm scales N(1, gain)."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if kind == "xavier":
                nn.init.xavier_normal_(m.weight, gain=gain)
            elif kind == "normal":
                nn.init.normal_(m.weight, 0.0, gain)
            else:
                raise ValueError(f"unknown init {kind!r}; use xavier or normal")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    return net


def sample_patch_ids(features: Sequence[torch.Tensor], num_patches: int,
                     permutation: Optional[Callable[[int], torch.Tensor]] = None) -> list[torch.Tensor]:
    """Per layer min(num_patches, H·W) distinct positions, from the global CPU generator (checkpointed)."""
    draw = permutation or (lambda n: torch.randperm(n))
    return [draw(f.shape[2] * f.shape[3])[:min(num_patches, f.shape[2] * f.shape[3])] for f in features]
