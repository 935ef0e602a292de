"""FAL, Feedback Adversarial Learning (Huh, Sun, Zhang, CVPR 2019): a RECONSTRUCTION, supervised.

No official code is public. This file rebuilds the method from the paper's description: generation
is recurrent; step 1 is a plain pix2pix pass; at each later step the discriminator's spatial
response to the previous output, D(x, y_{t-1}), and y_{t-1} itself are encoded and an adaptive
spatial transform (AST) modulates the generator's features per pixel,
h <- (1 + gamma) * h + beta, with gamma and beta predicted from [h, feedback features]. The output
is y_T (T = 3, the paper's Fig. 1); the discriminator is part of the model at test time too.

Backbone: pix2pix's U-Net (BatchNorm, dropout) and conditional 70x70 PatchGAN with BCE, as the
ASGIT paper calls FAL "a recurrent modification of pix2pix", with the L1 weight lambda = 10 that
the ASGIT paper states for FAL. The AST acts on the U-Net's features after `fal_feature_level`
downsamplings (the input of that level, so both the skip connection and the deeper path see it).

Reconstruction choices, all config fields recorded in every result (see
../shared/docs/baselines_and_metrics.md §6): the feedback map is the sigmoid of D's logits,
upsampled bilinearly, and detached (no gradient through D into G); adversarial + L1 losses at every
step, averaged over steps; per iteration one G step (feedback computed with the current D, which
is then frozen) and then one D step on every step's output, so D's update never enters G's graph.

The ASGIT authors' approximation (voidstrike/ASGIT `fal_model.py`) differs; its cheap choices are
options: `fal_modulation=channel` (global per-channel gamma/beta), `fal_residual_gamma=false`
(gamma*h + beta), `fal_feedback_map=logits`, `fal_detach_feedback=false`, `fal_loss_steps=last`,
`fal_lambda=100`, `fal_T=1` (the only value that runs there). Its split ResNet-9 backbone and its
two bugs (a doubly registered decoder; D updated inside G's graph) are not reproduced.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Optional

import torch
import torch.nn.functional as F
from torch import nn

from baselines.pix2pix import PairedGAN, SupervisedGANConfig
from harness.nets import UnetGenerator, init_weights, norm_layer
from harness.registry import register_method
from harness.training.method import MethodContext

PROVENANCE = ("reconstruction of FAL (Huh et al., CVPR 2019) from the paper text; no official code exists; "
              "not the ASGIT authors' approximation")


@dataclass(frozen=True)
class FALConfig(SupervisedGANConfig):
    provenance: str = PROVENANCE  # carried into result.json so tables can mark the row as re-implemented
    fal_lambda: float = 10.0  # L1 weight, as the ASGIT paper (§4.4) states for FAL; pix2pix and the ASGIT repo use 100
    fal_T: int = 3  # generation steps in training and at test (FAL Fig. 1 shows t = 1, 2, 3)
    fal_detach_feedback: bool = True  # no gradient from the feedback map through D into G (ASGIT repo: false)
    fal_modulation: Literal["spatial", "channel"] = "spatial"  # paper: spatial; ASGIT repo: channel-wise
    fal_residual_gamma: bool = True  # (1 + gamma) * h + beta; false: gamma * h + beta as the ASGIT repo
    fal_feedback_map: Literal["sigmoid", "logits"] = "sigmoid"  # ASGIT repo feeds raw logits
    fal_loss_steps: Literal["all", "last"] = "all"  # losses on every step's output, or on y_T only (ASGIT repo)
    fal_feature_level: int = 2  # AST on the features after this many downsamplings (1/4 resolution)
    fal_feedback_channels: int = 64


class FeedbackEncoder(nn.Module):
    """[previous output, D map] at image resolution → feedback features at the modulated resolution."""

    def __init__(self, in_channels: int, channels: int, n_down: int, norm: str):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, 3, 1, 1), nn.LeakyReLU(0.2, True)]
        for _ in range(n_down):
            layers += [nn.Conv2d(channels, channels, 4, 2, 1), norm_layer(norm, channels), nn.LeakyReLU(0.2, True)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class AdaptiveSpatialTransform(nn.Module):
    """Predicts gamma, beta from [features, feedback] and modulates the features (per pixel or per channel)."""

    def __init__(self, feature_channels: int, feedback_channels: int, modulation: str, residual_gamma: bool):
        super().__init__()
        hidden = feedback_channels
        self.shared = nn.Sequential(nn.Conv2d(feature_channels + feedback_channels, hidden, 3, 1, 1), nn.ReLU(True))
        self.gamma = nn.Conv2d(hidden, feature_channels, 3, 1, 1)
        self.beta = nn.Conv2d(hidden, feature_channels, 3, 1, 1)
        self.modulation, self.residual_gamma = modulation, residual_gamma

    def forward(self, h: torch.Tensor, feedback: torch.Tensor) -> torch.Tensor:
        x = self.shared(torch.cat([h, feedback], 1))
        gamma, beta = self.gamma(x), self.beta(x)
        if self.modulation == "channel":
            gamma, beta = gamma.mean((2, 3), keepdim=True), beta.mean((2, 3), keepdim=True)
        return ((1 + gamma) if self.residual_gamma else gamma) * h + beta


class FeedbackUnet(nn.Module):
    """A pix2pix U-Net whose features at one level are modulated by an AST when feedback is given.

    The shared U-Net is used unchanged; a forward pre-hook on the level that receives the features
    after `level` downsamplings applies the AST, so no copy of the U-Net code is needed.
    """

    def __init__(self, unet: UnetGenerator, level: int, ngf: int, channels: int, feedback_channels: int,
                 norm: str, modulation: str, residual_gamma: bool):
        super().__init__()
        self.unet = unet
        target: nn.Module = unet.model
        for _ in range(level):
            inner = [m for m in target.model if type(m).__name__ == "_Level"]  # the nested U-Net level
            if not inner:
                raise ValueError(f"fal_feature_level={level} is deeper than the U-Net's innermost level")
            target = inner[0]
        feature_channels = ngf * min(2 ** (level - 1), 8)
        self.encoder = FeedbackEncoder(channels + 1, feedback_channels, level, norm)
        self.ast = AdaptiveSpatialTransform(feature_channels, feedback_channels, modulation, residual_gamma)
        self._feedback: Optional[torch.Tensor] = None
        target.register_forward_pre_hook(self._modulate)

    def _modulate(self, module: nn.Module, args: tuple) -> Optional[tuple]:
        if self._feedback is None:
            return None
        return (self.ast(args[0], self._feedback),) + tuple(args[1:])

    def forward(self, x: torch.Tensor, previous: Optional[torch.Tensor] = None,
                d_map: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Step 1 without feedback; later steps with the previous output and D's map at image size."""
        self._feedback = None if previous is None else self.encoder(torch.cat([previous, d_map], 1))
        try:
            return self.unet(x)
        finally:
            self._feedback = None


@register_method("fal", description="FAL (reconstruction): pix2pix U-Net with discriminator spatial feedback "
                                    "through an adaptive spatial transform, T=3, L1 10 (supervised)")
class FAL(PairedGAN):
    config_class = FALConfig

    def __init__(self, config: FALConfig, context: MethodContext):
        if config.fal_T < 1:
            raise ValueError(f"fal_T must be at least 1, got {config.fal_T}")
        super().__init__(config, context)
        if not 1 <= self.config.fal_feature_level < self.config.unet_depth:
            raise ValueError(f"fal_feature_level must be in 1..{self.config.unet_depth - 1} for a "
                             f"{self.config.unet_depth}-level U-Net, got {self.config.fal_feature_level}")

    def build_generator(self) -> nn.Module:
        c, ch = self.config, self.context.channels
        unet = UnetGenerator(ch, ch, c.unet_depth, c.ngf, c.norm, c.dropout)
        net = FeedbackUnet(unet, c.fal_feature_level, c.ngf, ch, c.fal_feedback_channels, c.norm,
                           c.fal_modulation, c.fal_residual_gamma)
        return init_weights(net, c.init_gain)

    # ---- the recurrent generation ----------------------------------------------------------
    def feedback_map(self, direction: str, source: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        """D's spatial response to `output`, at image resolution (sigmoid or raw logits)."""
        D = self.D[direction]
        if self.config.fal_detach_feedback:
            with torch.no_grad():
                logits = D(self.discriminator_input(source, output.detach()))
        else:
            logits = D(self.discriminator_input(source, output))
        if self.config.fal_feedback_map == "sigmoid":
            logits = torch.sigmoid(logits)
        return F.interpolate(logits.float(), size=output.shape[-2:], mode="bilinear",
                             align_corners=False).to(output.dtype)

    def unroll(self, direction: str, source: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Outputs y_1..y_T and the feedback maps r_1..r_{T-1} that produced y_2..y_T."""
        G = self.G[direction]
        outputs, maps = [G(source)], []
        for _ in range(1, self.config.fal_T):
            maps.append(self.feedback_map(direction, source, outputs[-1]))
            outputs.append(G(source, outputs[-1], maps[-1]))
        return outputs, maps

    def train_direction(self, direction: str, source: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        c, D = self.config, self.D[direction]
        # G first, with D frozen: the feedback maps come from the same D that judges this G step,
        # and D's update happens after G's backward, outside G's graph.
        self.set_requires_grad([D], False)
        outputs, _ = self.unroll(direction, source)
        scored = outputs if c.fal_loss_steps == "all" else outputs[-1:]
        loss_g_gan = torch.stack([self.gan(D(self.discriminator_input(source, y)), True) for y in scored]).mean()
        loss_l1 = c.fal_lambda * torch.stack([F.l1_loss(y, target) for y in scored]).mean()
        self.optimize(f"G_{direction}", loss_g_gan + loss_l1)

        self.set_requires_grad([D], True)
        loss_d_real = self.gan(D(self.discriminator_input(source, target)), True)
        loss_d_fake = torch.stack([self.gan(D(self.discriminator_input(source, y.detach())), False)
                                   for y in scored]).mean()
        loss_d = 0.5 * (loss_d_real + loss_d_fake)
        self.optimize(f"D_{direction}", loss_d)
        return {"D": loss_d, "G_gan": loss_g_gan, "G_l1": loss_l1,
                "L1_first": F.l1_loss(outputs[0].detach(), target), "L1_last": F.l1_loss(outputs[-1].detach(), target)}

    def translate(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        if direction not in self.G:
            raise ValueError(f"unknown direction {direction!r}; use one of {', '.join(self.G)}")
        return self.unroll(direction, images)[0][-1]

    def visuals(self, images: torch.Tensor, direction: str) -> dict[str, torch.Tensor]:
        """Every step's output and the (sigmoid) feedback maps between them."""
        outputs, maps = self.unroll(direction, images)
        columns: dict[str, torch.Tensor] = {}
        for t, y in enumerate(outputs, 1):
            if t > 1:
                r = maps[t - 2]
                columns[f"feedback_{t - 1}"] = r if self.config.fal_feedback_map == "sigmoid" else torch.sigmoid(r)
            columns[f"step_{t}" if t < len(outputs) else "output"] = y
        return columns

    def config_dict(self) -> dict[str, Any]:
        return {**super().config_dict(), "reimplemented": True}
