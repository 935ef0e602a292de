"""UNIT (Liu, Breuel, Kautz, NeurIPS 2017): coupled VAE-GANs with a shared latent space.

Per domain a VAE encoder E and a decoder G; with `shared_blocks` ≥ 1 the last encoder residual
block(s) and the first decoder residual block(s) are shared by both domains (the paper's weight
tying). The latent code is h = E(x); training decodes h + n with n ~ N(0, I), so the KL term
reduces to mean(h²). Multi-scale LSGAN discriminators (3 scales, no norm). Per step, as
`train.py` of mingyuliutw/UNIT: one Adam step on both discriminators, then one on both VAEs:

    D: Σ_scales mean(D(fake)²) + mean((D(real) − 1)²), fakes x_ba = G_A(h_b + n), x_ab = G_B(h_a + n)
    G: gan_w·adv + recon_x_w·‖G_A(h_a + n) − x_a‖₁ + recon_kl_w·mean(h_a²)
       + recon_x_cyc_w·‖G_A(E_B(x_ab) + n) − x_a‖₁ + recon_kl_cyc_w·mean(E_B(x_ab)²)   (and for B)

Logged losses (unweighted, both domains summed where two): D_A, D_B, G_gan_A, G_gan_B, G_recon_x,
G_kl, G_cyc_x, G_kl_cyc. At test x → G_target(E_source(x)), without noise.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, Optional

import torch
import torch.nn.functional as F

from baselines._protocol import Protocol, set_lr_factor, with_original_lr
from baselines._unit_nets import SharedLatentGenerators, UnitMultiScaleDiscriminator, init_unit, max_scales
from harness.registry import register_method
from harness.training.method import Method, MethodConfig, MethodContext

LOSS_NAMES = ("D_A", "D_B", "G_gan_A", "G_gan_B", "G_recon_x", "G_kl", "G_cyc_x", "G_kl_cyc")
ORIGINAL_LR = 1e-4  # configs/unit_*.yaml


@dataclass(frozen=True)
class UNITConfig(MethodConfig):
    # asgit_shared (leaderboard default): the schedule's lr (2e-4) and decay rule; original: lr 1e-4
    # halved every lr_step_size iterations (StepLR), replacing the schedule's rule.
    protocol: Protocol = "asgit_shared"
    gan_loss: Optional[Literal["lsgan", "vanilla", "wgangp"]] = "lsgan"
    gan_w: float = 1.0
    recon_x_w: float = 10.0
    recon_kl_w: float = 0.01
    recon_x_cyc_w: float = 10.0
    recon_kl_cyc_w: float = 0.01
    weight_decay: float = 1e-4
    lr_step_size: int = 100_000
    lr_gamma: float = 0.5
    gen_dim: int = 64
    n_down: int = 2
    n_res: int = 4
    # 1: the NIPS paper's tied layers (version_02 shares one encoder and one decoder block);
    # 0: the current reference code, which ties nothing.
    shared_blocks: int = 1
    dis_dim: int = 64
    dis_n_layer: int = 4
    # None: 3 as the reference, fewer where a scale would be too small (resolved value recorded).
    dis_num_scales: Optional[int] = None


@register_method("unit", description="UNIT: coupled VAE-GANs with shared latent layers, multi-scale LSGAN (unsupervised)")
class UNIT(Method):
    config_class = UNITConfig
    settings = ("unsupervised",)

    def __init__(self, config: UNITConfig, context: MethodContext):
        if config.gan_loss != "lsgan":
            raise ValueError(f"UNIT's reference configuration trains with lsgan; gan_loss={config.gan_loss!r} "
                             "is not supported")
        config = with_original_lr(config, ORIGINAL_LR)
        if config.dis_num_scales is None:
            config = dataclasses.replace(config, dis_num_scales=max_scales(context.image_size, config.dis_n_layer, 3))
        super().__init__(config, context)
        c, ch = self.config, context.channels
        self.gen = init_unit(SharedLatentGenerators(ch, c.gen_dim, c.n_down, c.n_res, c.shared_blocks), "kaiming")
        self.dis_A = init_unit(UnitMultiScaleDiscriminator(ch, c.dis_dim, c.dis_n_layer, c.dis_num_scales), "gaussian",
                               c.init_gain)
        self.dis_B = init_unit(UnitMultiScaleDiscriminator(ch, c.dis_dim, c.dis_n_layer, c.dis_num_scales), "gaussian",
                               c.init_gain)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        wd = self.config.weight_decay
        return {"D": self.adam([*self.dis_A.parameters(), *self.dis_B.parameters()], weight_decay=wd),
                "G": self.adam(self.gen.parameters(), weight_decay=wd)}

    @staticmethod
    def _noisy(h: torch.Tensor) -> torch.Tensor:
        # The global RNG: its state is checkpointed, so a resumed run draws the same noise.
        return h + torch.randn_like(h)

    @staticmethod
    def _dis_loss(dis, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        return sum(F.mse_loss(f.float(), torch.zeros_like(f, dtype=torch.float)) +
                   F.mse_loss(r.float(), torch.ones_like(r, dtype=torch.float))
                   for f, r in zip(dis(fake), dis(real)))

    @staticmethod
    def _gen_loss(dis, fake: torch.Tensor) -> torch.Tensor:
        return sum(F.mse_loss(f.float(), torch.ones_like(f, dtype=torch.float)) for f in dis(fake))

    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        c = self.config
        if c.protocol == "original":
            set_lr_factor(self, c.lr_gamma ** (self.step_count // c.lr_step_size))
        x_a, x_b = batch["A"], batch["B"]
        gen = self.gen

        # Discriminators first.
        with torch.no_grad():
            x_ba = gen.decode(self._noisy(gen.encode(x_b, "B")), "A")
            x_ab = gen.decode(self._noisy(gen.encode(x_a, "A")), "B")
        loss_d_a = self._dis_loss(self.dis_A, x_ba, x_a)
        loss_d_b = self._dis_loss(self.dis_B, x_ab, x_b)
        self.optimize("D", c.gan_w * (loss_d_a + loss_d_b))

        # Then both VAE-GANs, with fresh noise.
        self.set_requires_grad([self.dis_A, self.dis_B], False)
        h_a, h_b = gen.encode(x_a, "A"), gen.encode(x_b, "B")
        z_a, z_b = self._noisy(h_a), self._noisy(h_b)
        x_a_recon, x_b_recon = gen.decode(z_a, "A"), gen.decode(z_b, "B")
        x_ba, x_ab = gen.decode(z_b, "A"), gen.decode(z_a, "B")
        h_b_recon, h_a_recon = gen.encode(x_ba, "A"), gen.encode(x_ab, "B")
        x_aba = gen.decode(self._noisy(h_a_recon), "A")
        x_bab = gen.decode(self._noisy(h_b_recon), "B")
        g_gan_a, g_gan_b = self._gen_loss(self.dis_A, x_ba), self._gen_loss(self.dis_B, x_ab)
        recon_x = F.l1_loss(x_a_recon, x_a) + F.l1_loss(x_b_recon, x_b)
        kl = h_a.float().pow(2).mean() + h_b.float().pow(2).mean()
        cyc_x = F.l1_loss(x_aba, x_a) + F.l1_loss(x_bab, x_b)
        kl_cyc = h_a_recon.float().pow(2).mean() + h_b_recon.float().pow(2).mean()
        loss_g = (c.gan_w * (g_gan_a + g_gan_b) + c.recon_x_w * recon_x + c.recon_kl_w * kl
                  + c.recon_x_cyc_w * cyc_x + c.recon_kl_cyc_w * kl_cyc)
        self.optimize("G", loss_g)
        self.set_requires_grad([self.dis_A, self.dis_B], True)
        losses = {"D_A": loss_d_a, "D_B": loss_d_b, "G_gan_A": g_gan_a, "G_gan_B": g_gan_b, "G_recon_x": recon_x,
                  "G_kl": kl, "G_cyc_x": cyc_x, "G_kl_cyc": kl_cyc}
        return {k: v.detach() for k, v in losses.items()}

    def translate(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        source, target = ("A", "B") if direction == "A2B" else ("B", "A")
        return self.gen.decode(self.gen.encode(images, source), target)
