"""pix2pix (Isola, Zhu, Zhou, Efros, CVPR 2017) and its ablations "GAN" and "cGAN", supervised.

One family, three registered configs (the pix2pix paper's Table 1 rows, as phillipi/pix2pix
`train.lua` exposes them through `condition_GAN` and `use_L1`):

| method  | discriminator sees        | L1 term         |
|---------|---------------------------|-----------------|
| gan     | the output only (3 ch)    | none            |
| cgan    | input and output (6 ch)   | none            |
| pix2pix | input and output (6 ch)   | lambda_l1 = 100 |

U-Net generator (BatchNorm, dropout 0.5 in the three decoder blocks after the innermost; depth
chosen so the image reaches 1x1: unet_256 at 256 px, unet_128 at 128 px), 70x70 PatchGAN with
BatchNorm, vanilla (BCE-with-logits) GAN loss, no image pool, Adam. Per iteration and
direction: one discriminator step (loss halved), then one generator step, as the reference code.

Supervised runs train one independent model per direction (A2B and B2A) on the same aligned
batches; `translate` picks the direction's generator. Test time follows pix2pix: dropout on and
batch statistics (`inference_mode="train"`), one image per batch.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, Optional

import torch
import torch.nn.functional as F
from torch import nn

from harness.nets import GANLoss, PatchDiscriminator, UnetGenerator, init_weights, unet_depth_for
from harness.registry import register_method
from harness.training.method import Method, MethodConfig, MethodContext


@dataclass(frozen=True)
class SupervisedGANConfig(MethodConfig):
    """Networks and test-time behaviour shared by the supervised family (pix2pix, GAN, cGAN, FAL)."""

    # pix2pix uses BCE whatever the schedule's default (LSGAN) says; recorded as resolved.
    gan_loss: Optional[Literal["lsgan", "vanilla", "wgangp"]] = "vanilla"
    # Dropout as noise and batch statistics at test time, as the pix2pix test script (no .eval()).
    inference_mode: Literal["eval", "train"] = "train"
    conditional_d: bool = True  # D sees concat(input, output); False: the output only ("GAN")
    ngf: int = 64
    ndf: int = 64
    n_layers_d: int = 3  # 70x70 PatchGAN
    norm: str = "batch"
    dropout: bool = True
    unet_depth: Optional[int] = None  # None: downsamplings to 1x1 at the run's image size (recorded resolved)


@dataclass(frozen=True)
class Pix2PixConfig(SupervisedGANConfig):
    use_l1: bool = True
    lambda_l1: float = 100.0  # weight of the L1 term when use_l1


class PairedGAN(Method):
    """The shared base of the supervised family: a (G, D) pair and two optimizers per direction."""

    config_class = Pix2PixConfig
    settings = ("supervised",)

    def __init__(self, config: SupervisedGANConfig, context: MethodContext):
        super().__init__(config, context)
        if self.config.unet_depth is None:
            self.config = dataclasses.replace(self.config, unet_depth=unet_depth_for(context.image_size))
        self.gan = GANLoss(self.config.gan_loss)
        # ModuleDicts keyed by direction: one independent model per direction, saved together.
        self.G = nn.ModuleDict({d: self.build_generator() for d in self.directions})
        self.D = nn.ModuleDict({d: self.build_discriminator() for d in self.directions})

    # ---- networks ------------------------------------------------------------------------
    def build_generator(self) -> nn.Module:
        c, ch = self.config, self.context.channels
        return init_weights(UnetGenerator(ch, ch, c.unet_depth, c.ngf, c.norm, c.dropout), c.init_gain)

    def build_discriminator(self) -> nn.Module:
        c, ch = self.config, self.context.channels
        in_channels = 2 * ch if c.conditional_d else ch
        return init_weights(PatchDiscriminator(in_channels, c.ndf, c.n_layers_d, c.norm), c.init_gain)

    def discriminator_input(self, source: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """What D judges: concat(input, image) for a conditional D, the image alone otherwise."""
        return torch.cat([source, image], 1) if self.config.conditional_d else image

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        opts: dict[str, torch.optim.Optimizer] = {}
        for d in self.directions:
            opts[f"D_{d}"] = self.adam(self.D[d].parameters())
            opts[f"G_{d}"] = self.adam(self.G[d].parameters())
        return opts

    # ---- training ------------------------------------------------------------------------
    @staticmethod
    def source_target(batch: dict[str, Any], direction: str) -> tuple[torch.Tensor, torch.Tensor]:
        return (batch["A"], batch["B"]) if direction == "A2B" else (batch["B"], batch["A"])

    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        losses: dict[str, torch.Tensor] = {}
        for direction in self.directions:
            source, target = self.source_target(batch, direction)
            step = self.train_direction(direction, source, target)
            losses.update({f"{name}_{direction}": value.detach() for name, value in step.items()})
        return losses

    def train_direction(self, direction: str, source: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """One pix2pix iteration for one direction's model: D step, then G step."""
        c, G, D = self.config, self.G[direction], self.D[direction]
        fake = G(source)

        self.set_requires_grad([D], True)
        loss_d_real = self.gan(D(self.discriminator_input(source, target)), True)
        loss_d_fake = self.gan(D(self.discriminator_input(source, fake.detach())), False)
        loss_d = 0.5 * (loss_d_real + loss_d_fake)
        self.optimize(f"D_{direction}", loss_d)

        self.set_requires_grad([D], False)
        loss_g_gan = self.gan(D(self.discriminator_input(source, fake)), True)
        losses = {"D": loss_d, "G_gan": loss_g_gan}
        loss_g = loss_g_gan
        if c.use_l1:
            loss_l1 = c.lambda_l1 * F.l1_loss(fake, target)
            loss_g = loss_g + loss_l1
            losses["G_l1"] = loss_l1
        self.optimize(f"G_{direction}", loss_g)
        self.set_requires_grad([D], True)
        return losses

    def translate(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        if direction not in self.G:
            raise ValueError(f"unknown direction {direction!r}; use one of {', '.join(self.G)}")
        return self.G[direction](images)


@register_method("pix2pix", description="pix2pix: U-Net G, conditional PatchGAN (BN), BCE + 100 L1, "
                                        "one model per direction (supervised)")
class Pix2Pix(PairedGAN):
    config_class = Pix2PixConfig


@dataclass(frozen=True)
class CGANConfig(Pix2PixConfig):
    use_l1: bool = False


@register_method("cgan", description="cGAN (pix2pix ablation): conditional PatchGAN, no L1 (supervised)")
class CGAN(PairedGAN):
    config_class = CGANConfig


@dataclass(frozen=True)
class GANConfig(Pix2PixConfig):
    conditional_d: bool = False
    use_l1: bool = False


@register_method("gan", description="GAN (pix2pix ablation): unconditional PatchGAN on the output only, "
                                    "no L1 (supervised)")
class GAN(PairedGAN):
    config_class = GANConfig
