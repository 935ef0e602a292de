"""CycleGAN (Zhu, Park, Isola, Efros, ICCV 2017), as in junyanz/pytorch-CycleGAN-and-pix2pix.

ResNet-9 generators, 70x70 PatchGANs, LSGAN, cycle weight 10, image pools of 50; one Adam
step on both generators (discriminators frozen), then one on both discriminators, each
discriminator loss halved. The identity loss is an explicit option: the reference code
enables it by default (0.5, i.e. weight 5), the CycleGAN paper's object tasks and the ASGIT
comparison leave it out; the value that ran is recorded in every result.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from harness.nets import GANLoss, ImagePool, PatchDiscriminator, ResnetGenerator, init_weights
from harness.registry import register_method
from harness.training.method import Method, MethodConfig, MethodContext


@dataclass(frozen=True)
class CycleGANConfig(MethodConfig):
    lambda_cycle: float = 10.0
    # Multiplies lambda_cycle, as the reference code does (0.5 → identity weight 5). Default 0.5
    # follows the reference code (and the ASGIT repository's CycleGAN baseline); 0 is the paper's setting.
    lambda_identity: float = 0.5
    pool_size: int = 50
    ngf: int = 64
    ndf: int = 64
    n_blocks: int = 9
    norm: str = "instance"


@register_method("cyclegan", description="CycleGAN: ResNet-9 generators, PatchGAN, LSGAN, cycle 10 (unsupervised)")
class CycleGAN(Method):
    config_class = CycleGANConfig
    settings = ("unsupervised",)

    def __init__(self, config: CycleGANConfig, context: MethodContext):
        super().__init__(config, context)
        c, ch = self.config, context.channels
        self.G_AB = init_weights(self.build_generator(ch), c.init_gain)
        self.G_BA = init_weights(self.build_generator(ch), c.init_gain)
        self.D_A = init_weights(self.build_discriminator(ch), c.init_gain)
        self.D_B = init_weights(self.build_discriminator(ch), c.init_gain)
        self.gan = GANLoss(c.gan_loss)
        seed = int(torch.randint(0, 2**31 - 1, ()).item())
        self.pool_A, self.pool_B = ImagePool(c.pool_size, seed), ImagePool(c.pool_size, seed + 1)

    # ---- hooks for methods built on this step (e.g. attention-guided variants) ---------
    def build_generator(self, channels: int) -> torch.nn.Module:
        c = self.config
        return ResnetGenerator(channels, channels, c.ngf, c.n_blocks, c.norm)

    def build_discriminator(self, channels: int) -> torch.nn.Module:
        c = self.config
        return PatchDiscriminator(channels, c.ndf, 3, c.norm)

    def generator_input(self, images: torch.Tensor, direction: str, batch: dict[str, Any]) -> torch.Tensor:
        """What the `direction` generator sees for the real `images` of the batch (here: the images)."""
        return images

    def reconstruction_input(self, fakes: torch.Tensor, direction: str) -> torch.Tensor:
        """What the `direction` generator sees when it maps `fakes` back in the cycle pass."""
        return fakes

    def identity_input(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        """What the `direction` generator sees for real images of its target domain (identity loss)."""
        return images

    def generator_adversarial(self, fake_B: torch.Tensor, fake_A: torch.Tensor,
                              batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """The generators' GAN losses (A→B judged by D_B, B→A by D_A), discriminators frozen."""
        return self.gan(self.D_B(fake_B), True), self.gan(self.D_A(fake_A), True)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.adam([*self.G_AB.parameters(), *self.G_BA.parameters()]),
                "D": self.adam([*self.D_A.parameters(), *self.D_B.parameters()])}

    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        c = self.config
        real_A, real_B = batch["A"], batch["B"]
        fake_B = self.G_AB(self.generator_input(real_A, "A2B", batch))
        fake_A = self.G_BA(self.generator_input(real_B, "B2A", batch))
        rec_A, rec_B = self.G_BA(self.reconstruction_input(fake_B, "B2A")), \
            self.G_AB(self.reconstruction_input(fake_A, "A2B"))

        # Generators, with the discriminators frozen.
        self.set_requires_grad([self.D_A, self.D_B], False)
        loss_gan_AB, loss_gan_BA = self.generator_adversarial(fake_B, fake_A, batch)
        loss_cycle = c.lambda_cycle * (F.l1_loss(rec_A, real_A) + F.l1_loss(rec_B, real_B))
        loss_g = loss_gan_AB + loss_gan_BA + loss_cycle
        losses = {"G_gan_AB": loss_gan_AB, "G_gan_BA": loss_gan_BA, "G_cycle": loss_cycle}
        if c.lambda_identity > 0:
            weight = c.lambda_cycle * c.lambda_identity
            idt_B = self.G_AB(self.identity_input(real_B, "A2B"))
            idt_A = self.G_BA(self.identity_input(real_A, "B2A"))
            loss_idt = weight * (F.l1_loss(idt_B, real_B) + F.l1_loss(idt_A, real_A))
            loss_g = loss_g + loss_idt
            losses["G_identity"] = loss_idt
        self.optimize("G", loss_g)

        # Discriminators, on pooled fakes.
        self.set_requires_grad([self.D_A, self.D_B], True)
        fake_B_pool, fake_A_pool = self.pool_B.query(fake_B), self.pool_A.query(fake_A)
        loss_d_B = 0.5 * (self.gan(self.D_B(real_B), True) + self.gan(self.D_B(fake_B_pool.detach()), False))
        loss_d_A = 0.5 * (self.gan(self.D_A(real_A), True) + self.gan(self.D_A(fake_A_pool.detach()), False))
        self.optimize("D", loss_d_A + loss_d_B)
        losses.update(D_A=loss_d_A, D_B=loss_d_B)
        return {k: v.detach() for k, v in losses.items()}

    def translate(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        return (self.G_AB if direction == "A2B" else self.G_BA)(images)

    def extra_state(self) -> dict[str, Any]:
        return {"pool_A": self.pool_A.state_dict(), "pool_B": self.pool_B.state_dict()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.pool_A.load_state_dict(state["pool_A"])
        self.pool_B.load_state_dict(state["pool_B"])
