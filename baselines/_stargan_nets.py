"""StarGAN's networks (Choi et al., CVPR 2018; yunjey/stargan `model.py`) and its gradient penalty.

Generator: the image concatenated with the target-domain code tiled over H×W; conv7 → two
stride-2 downs → 6 residual blocks → two stride-2 transposed convs → conv7 → tanh. Zero padding
and bias-free convs, as the reference code (label conditioning fails with reflection padding,
its authors note). Discriminator: stride-2 4×4 convs with LeakyReLU 0.01 and no norm, then a
critic map head and a domain-classification head covering the whole remaining map.
"""
from __future__ import annotations

import torch
from torch import nn


def instance_norm(channels: int) -> nn.InstanceNorm2d:
    # The reference uses affine IN with track_running_stats=True but never calls .eval(), so its
    # outputs always use per-image statistics; without running stats eval() gives the same outputs.
    return nn.InstanceNorm2d(channels, affine=True, track_running_stats=False)


class StarResidualBlock(nn.Module):
    """conv3-IN-ReLU-conv3-IN added to the input."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), instance_norm(channels), nn.ReLU(True),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), instance_norm(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class StarGenerator(nn.Module):
    def __init__(self, channels: int = 3, c_dim: int = 2, conv_dim: int = 64, n_res: int = 6):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels + c_dim, conv_dim, 7, 1, 3, bias=False),
                                   instance_norm(conv_dim), nn.ReLU(True)]
        ch = conv_dim
        for _ in range(2):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), instance_norm(ch * 2), nn.ReLU(True)]
            ch *= 2
        layers += [StarResidualBlock(ch) for _ in range(n_res)]
        for _ in range(2):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), instance_norm(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.Conv2d(ch, channels, 7, 1, 3, bias=False), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """`code`: (N, c_dim) one-hot target domain, tiled over the image."""
        tiled = code.view(code.size(0), code.size(1), 1, 1).expand(-1, -1, x.size(2), x.size(3))
        return self.model(torch.cat([x, tiled.to(x.dtype)], dim=1))


class StarDiscriminator(nn.Module):
    """Returns (critic map (N,1,h,w), domain logits (N, c_dim))."""

    def __init__(self, image_size: int, channels: int = 3, c_dim: int = 2, conv_dim: int = 64, repeat_num: int = 6):
        super().__init__()
        final = image_size // 2 ** repeat_num
        if final < 1:
            raise ValueError(f"StarGAN's discriminator with {repeat_num} stride-2 layers needs images of at least "
                             f"{2 ** repeat_num} px, got {image_size}")
        layers: list[nn.Module] = [nn.Conv2d(channels, conv_dim, 4, 2, 1), nn.LeakyReLU(0.01)]
        ch = conv_dim
        for _ in range(1, repeat_num):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1), nn.LeakyReLU(0.01)]
            ch *= 2
        self.main = nn.Sequential(*layers)
        self.critic = nn.Conv2d(ch, 1, 3, 1, 1, bias=False)
        self.classifier = nn.Conv2d(ch, c_dim, final, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.main(x)
        return self.critic(h), self.classifier(h).flatten(1)


def default_repeat_num(image_size: int) -> int:
    """6 stride-2 layers as the reference (2×2 maps at 128 px, 4×4 at 256 px); fewer for images below
    128 px, keeping the final map at 2×2, so small test sizes still build."""
    layers = 6
    while layers > 1 and image_size // 2 ** layers < 2:
        layers -= 1
    return layers


def gradient_penalty(critic_out: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """mean over samples of (‖∂ sum(critic_out) / ∂ inputs‖₂ − 1)², the WGAN-GP term.

    `inputs` must require grad and `critic_out` be computed from it. The graph is kept
    (create_graph) so the penalty itself can be back-propagated into the critic's weights.
    """
    grad = torch.autograd.grad(outputs=critic_out, inputs=inputs, grad_outputs=torch.ones_like(critic_out),
                               create_graph=True, retain_graph=True, only_inputs=True)[0]
    norms = grad.flatten(1).float().norm(2, dim=1)
    return ((norms - 1) ** 2).mean()
