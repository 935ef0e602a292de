"""UNIT's networks (Liu, Breuel, Kautz, NeurIPS 2017), as in mingyuliutw/UNIT.

The encoder/decoder blocks follow the reference configuration of the current code (`networks.py`,
`configs/unit_*.yaml`): reflection padding, IN in the encoder and residual blocks, a per-sample
LayerNorm in the upsampling blocks, nearest-neighbour upsampling with 5×5 convs. The paper's
shared-latent weight tying (the NIPS code, `version_02` branch: the last encoder residual block
and the first decoder residual block are one module for both domains) is `SharedLatentGenerators`
with `shared_blocks` ≥ 1; 0 gives the current code's untied generators.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class UnitLayerNorm(nn.Module):
    """Per-sample normalisation over C×H×W with a per-channel affine (gamma ~ U(0, 1), beta = 0)."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.empty(channels).uniform_())
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        mean = flat.mean(1).view(-1, 1, 1, 1)
        std = flat.std(1).view(-1, 1, 1, 1)  # unbiased, as the reference
        x = (x - mean) / (std + self.eps)
        return x * self.gamma.view(1, -1, 1, 1) + self.beta.view(1, -1, 1, 1)


def conv_block(cin: int, cout: int, kernel: int, stride: int, padding: int, norm: str = "none",
               activation: str = "relu") -> nn.Sequential:
    """reflect-pad → conv (with bias) → norm (in | ln | none) → activation (relu | lrelu | tanh | none)."""
    layers: list[nn.Module] = [nn.ReflectionPad2d(padding), nn.Conv2d(cin, cout, kernel, stride)]
    if norm == "in":
        layers.append(nn.InstanceNorm2d(cout))
    elif norm == "ln":
        layers.append(UnitLayerNorm(cout))
    elif norm != "none":
        raise ValueError(f"unknown norm {norm!r}")
    acts = {"relu": nn.ReLU(True), "lrelu": nn.LeakyReLU(0.2, True), "tanh": nn.Tanh(), "none": None}
    if acts[activation] is not None:
        layers.append(acts[activation])
    return nn.Sequential(*layers)


class UnitResBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.body = nn.Sequential(conv_block(dim, dim, 3, 1, 1, "in", "relu"), conv_block(dim, dim, 3, 1, 1, "in", "none"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class UnitEncoder(nn.Sequential):
    """conv7 (→dim) and `n_down` stride-2 conv4 (doubling), IN + ReLU, then `n_res` residual blocks."""

    def __init__(self, channels: int, dim: int, n_down: int, n_res: int):
        layers = [conv_block(channels, dim, 7, 1, 3, "in")]
        for _ in range(n_down):
            layers.append(conv_block(dim, dim * 2, 4, 2, 1, "in"))
            dim *= 2
        layers += [UnitResBlock(dim) for _ in range(n_res)]
        super().__init__(*layers)


class UnitDecoder(nn.Sequential):
    """`n_res` residual blocks, `n_up` × (nearest ×2, conv5 halving, LayerNorm, ReLU), conv7 → tanh."""

    def __init__(self, channels: int, dim: int, n_up: int, n_res: int):
        layers: list[nn.Module] = [UnitResBlock(dim) for _ in range(n_res)]
        for _ in range(n_up):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), conv_block(dim, dim // 2, 5, 1, 2, "ln")]
            dim //= 2
        layers.append(conv_block(dim, channels, 7, 1, 3, "none", "tanh"))
        super().__init__(*layers)


class SharedLatentGenerators(nn.Module):
    """Both domains' VAE encoders E_A, E_B and decoders G_A, G_B; `shared_blocks` residual blocks at
    the end of the encoders and at the start of the decoders are shared between the domains."""

    def __init__(self, channels: int = 3, dim: int = 64, n_down: int = 2, n_res: int = 4, shared_blocks: int = 1):
        super().__init__()
        if not 0 <= shared_blocks <= n_res:
            raise ValueError(f"shared_blocks must be within 0..n_res={n_res}, got {shared_blocks}")
        latent = dim * 2 ** n_down
        private = n_res - shared_blocks
        self.enc = nn.ModuleDict({d: UnitEncoder(channels, dim, n_down, private) for d in "AB"})
        self.dec = nn.ModuleDict({d: UnitDecoder(channels, latent, n_down, private) for d in "AB"})
        self.enc_shared = nn.Sequential(*[UnitResBlock(latent) for _ in range(shared_blocks)])
        self.dec_shared = nn.Sequential(*[UnitResBlock(latent) for _ in range(shared_blocks)])

    def encode(self, x: torch.Tensor, domain: str) -> torch.Tensor:
        """The latent mean h; training adds unit Gaussian noise before decoding."""
        return self.enc_shared(self.enc[domain](x))

    def decode(self, h: torch.Tensor, domain: str) -> torch.Tensor:
        return self.dec[domain](self.dec_shared(h))


class UnitMultiScaleDiscriminator(nn.Module):
    """LSGAN patch critics on `num_scales` scales (average-pooled ×½ between scales), no norm."""

    def __init__(self, channels: int = 3, dim: int = 64, n_layer: int = 4, num_scales: int = 3):
        super().__init__()
        nets = []
        for _ in range(num_scales):
            layers = [conv_block(channels, dim, 4, 2, 1, "none", "lrelu")]
            d = dim
            for _ in range(n_layer - 1):
                layers.append(conv_block(d, d * 2, 4, 2, 1, "none", "lrelu"))
                d *= 2
            layers.append(nn.Conv2d(d, 1, 1, 1, 0))
            nets.append(nn.Sequential(*layers))
        self.nets = nn.ModuleList(nets)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i, net in enumerate(self.nets):
            if i:
                x = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
            outs.append(net(x))
        return outs


def max_scales(image_size: int, n_layer: int, wanted: int) -> int:
    """Scales whose input still has ≥ 2^n_layer px (reflection padding needs ≥ 2 px at the last conv)."""
    scales = 0
    while scales < wanted and image_size // 2 ** scales >= 2 ** n_layer:
        scales += 1
    return max(1, scales)


def init_unit(net: nn.Module, kind: str, gain: float = 0.02) -> nn.Module:
    """The reference `weights_init`: 'kaiming' (fan_in, generators) or 'gaussian' N(0, 0.02)
    (discriminators) on conv/linear weights, zero biases; norm layers untouched."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if kind == "kaiming":
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            else:
                nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return net
