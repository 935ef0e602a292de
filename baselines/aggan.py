"""AGGAN: Mejjati et al., "Unsupervised Attention-guided Image-to-Image Translation" (NeurIPS 2018),
following the official TF1 code (not Tang et al.'s AttentionGAN, which shares the acronym).

Per domain a generator and an attention net. The attended foreground is translated and the
background copied: s' = F(s)·A_S(s) + s·(1 − A_S(s)) (soft mask, also at test), likewise for the
cycle. Discriminators see x·[mask ≥ threshold]; fakes carry the mask of their source image, and
the image pools store (image, mask) pairs. Two stages: before `stage_switch_epoch` the threshold
is 0 (the whole image), D uses IN and the attention nets train with the generators; from then on
the attention nets are frozen, D sees only pixels with attention ≥ `threshold` (0.1) and its IN
is off. Per step, as the reference: G_A (+A_A), then D_B, then G_B (+A_B) on a fresh forward
pass, then D_A. Generator loss = λ·(cycle_A + cycle_B) + LSGAN; D = ½·(LSGAN real + LSGAN pooled fake).

Logged losses (unweighted cycle terms): G_A_gan, G_B_gan, cycle_A, cycle_B, D_A, D_B.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, Optional

import torch
import torch.nn.functional as F

from baselines._aggan_nets import AGGenerator, AttentionNet, MaskedDiscriminator, init_tf
from baselines._protocol import Protocol, set_lr_factor, with_original_lr
from harness.nets import ImagePool
from harness.registry import register_method
from harness.training.method import Method, MethodConfig, MethodContext

LOSS_NAMES = ("G_A_gan", "G_B_gan", "cycle_A", "cycle_B", "D_A", "D_B")
ORIGINAL_LR = 1e-4  # configs/exp_01.json (horse2zebra), exp_02, exp_04


@dataclass(frozen=True)
class AGGANConfig(MethodConfig):
    # asgit_shared (leaderboard default): the schedule's lr (2e-4), epochs and decay; the stage switch at
    # 30 % of the schedule's epochs (60 of 200). original: lr 1e-4, constant until epoch 50, linear to 0
    # at epoch 100, no updates after epoch 100, stage switch at epoch 30.
    protocol: Protocol = "asgit_shared"
    gan_loss: Optional[Literal["lsgan", "vanilla", "wgangp"]] = "lsgan"
    lambda_cycle: float = 10.0
    pool_size: int = 50
    ngf: int = 32
    ndf: int = 64
    n_blocks: int = 9
    attn_tail_kernel: Literal[1, 3] = 1  # 1: the released code; 3: 3×3/3×3/7×7 as the paper describes
    threshold: float = 0.1
    # None: 30 (original) or round(0.3 × the schedule's epochs) (asgit_shared); resolved value recorded.
    stage_switch_epoch: Optional[int] = None
    original_epochs: int = 100
    original_decay_start_epoch: int = 50


@register_method("aggan", description="AGGAN (Mejjati et al.): attention-guided CycleGAN, masked D, frozen attention (unsupervised)")
class AGGAN(Method):
    config_class = AGGANConfig
    settings = ("unsupervised",)

    def __init__(self, config: AGGANConfig, context: MethodContext):
        if config.gan_loss != "lsgan":
            raise ValueError(f"AGGAN trains with lsgan; gan_loss={config.gan_loss!r} is not supported")
        config = with_original_lr(config, ORIGINAL_LR)
        if config.stage_switch_epoch is None:
            switch = 30 if config.protocol == "original" else max(1, round(0.3 * context.schedule.epochs))
            config = dataclasses.replace(config, stage_switch_epoch=switch)
        super().__init__(config, context)
        c, ch = self.config, context.channels
        self.G_A = init_tf(AGGenerator(ch, c.ngf, c.n_blocks))  # A → B
        self.G_B = init_tf(AGGenerator(ch, c.ngf, c.n_blocks))  # B → A
        self.att_A = init_tf(AttentionNet(ch, c.ngf, c.attn_tail_kernel))
        self.att_B = init_tf(AttentionNet(ch, c.ngf, c.attn_tail_kernel))
        self.D_A = init_tf(MaskedDiscriminator(ch, c.ndf))
        self.D_B = init_tf(MaskedDiscriminator(ch, c.ndf))
        seed = int(torch.randint(0, 2**31 - 1, ()).item())
        self.pool_A, self.pool_B = ImagePool(c.pool_size, seed), ImagePool(c.pool_size, seed + 1)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G_A": self.adam([*self.G_A.parameters(), *self.att_A.parameters()]),
                "D_B": self.adam(self.D_B.parameters()),
                "G_B": self.adam([*self.G_B.parameters(), *self.att_B.parameters()]),
                "D_A": self.adam(self.D_A.parameters())}

    # ---- stages and learning rate ----------------------------------------------------------
    @property
    def epoch(self) -> int:
        return self.step_count // max(1, self.context.iters_per_epoch)

    def attention_frozen(self) -> bool:
        return self.epoch >= self.config.stage_switch_epoch

    def _original_lr_factor(self) -> float:
        c = self.config
        half = c.original_decay_start_epoch
        if self.epoch < half:
            return 1.0
        return max(0.0, 1.0 - (self.epoch - half) / max(1, c.original_epochs - half))

    # ---- forward ---------------------------------------------------------------------------
    @staticmethod
    def _compose(generator, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return generator(x) * mask + x * (1 - mask)

    def _cycle(self, real_a: torch.Tensor, real_b: torch.Tensor) -> dict[str, torch.Tensor]:
        mask_a, mask_b = self.att_A(real_a), self.att_B(real_b)
        fake_b, fake_a = self._compose(self.G_A, real_a, mask_a), self._compose(self.G_B, real_b, mask_b)
        cyc_a = self._compose(self.G_B, fake_b, self.att_B(fake_b))
        cyc_b = self._compose(self.G_A, fake_a, self.att_A(fake_a))
        return {"mask_a": mask_a, "mask_b": mask_b, "fake_a": fake_a, "fake_b": fake_b, "cyc_a": cyc_a, "cyc_b": cyc_b}

    def _generator_loss(self, out: dict[str, torch.Tensor], real_a, real_b, dis, fake, source_mask, threshold):
        cycle_a = F.l1_loss(out["cyc_a"], real_a).float()
        cycle_b = F.l1_loss(out["cyc_b"], real_b).float()
        pred = dis(fake, source_mask.detach(), threshold).float()
        gan = F.mse_loss(pred, torch.ones_like(pred))
        return self.config.lambda_cycle * (cycle_a + cycle_b) + gan, gan, cycle_a, cycle_b

    def _discriminator_loss(self, dis, pool: ImagePool, real, real_mask, fake, fake_mask, threshold):
        pooled = pool.query(torch.cat([fake.detach(), fake_mask.detach()], 1))
        pooled_fake, pooled_mask = pooled[:, :-1], pooled[:, -1:]
        pred_real = dis(real, real_mask.detach(), threshold).float()
        pred_fake = dis(pooled_fake, pooled_mask, threshold).float()
        return 0.5 * (F.mse_loss(pred_real, torch.ones_like(pred_real)) + F.mse_loss(pred_fake, torch.zeros_like(pred_fake)))

    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        c = self.config
        if c.protocol == "original":
            if self.epoch >= c.original_epochs:
                return {}  # the reference trains original_epochs epochs; the schedule's extra steps do nothing
            set_lr_factor(self, self._original_lr_factor())
        real_a, real_b = batch["A"], batch["B"]
        frozen = self.attention_frozen()
        threshold = c.threshold if frozen else 0.0
        for dis in (self.D_A, self.D_B):
            dis.donorm = not frozen
        self.set_requires_grad([self.att_A, self.att_B], not frozen)

        # G_A (+ its attention net), discriminators frozen.
        self.set_requires_grad([self.D_A, self.D_B], False)
        out = self._cycle(real_a, real_b)
        loss, g_a_gan, cycle_a, cycle_b = self._generator_loss(out, real_a, real_b, self.D_B, out["fake_b"],
                                                               out["mask_a"], threshold)
        self.optimize("G_A", loss)
        # D_B on the pooled (fake B, mask of its source A).
        self.set_requires_grad([self.D_B], True)
        loss_d_b = self._discriminator_loss(self.D_B, self.pool_B, real_b, out["mask_b"], out["fake_b"],
                                            out["mask_a"], threshold)
        self.optimize("D_B", loss_d_b)

        # G_B (+ its attention net) on a fresh forward pass with the updated G_A, as the reference's
        # separate session runs do.
        self.set_requires_grad([self.D_B], False)
        out = self._cycle(real_a, real_b)
        loss, g_b_gan, cycle_a, cycle_b = self._generator_loss(out, real_a, real_b, self.D_A, out["fake_a"],
                                                               out["mask_b"], threshold)
        self.optimize("G_B", loss)
        self.set_requires_grad([self.D_A, self.D_B], True)
        loss_d_a = self._discriminator_loss(self.D_A, self.pool_A, real_a, out["mask_a"], out["fake_a"],
                                            out["mask_b"], threshold)
        self.optimize("D_A", loss_d_a)
        self.set_requires_grad([self.att_A, self.att_B], True)
        losses = {"G_A_gan": g_a_gan, "G_B_gan": g_b_gan, "cycle_A": cycle_a, "cycle_B": cycle_b,
                  "D_A": loss_d_a, "D_B": loss_d_b}
        return {k: v.detach() for k, v in losses.items()}

    # ---- inference -------------------------------------------------------------------------
    def _nets(self, direction: str):
        return (self.G_A, self.att_A) if direction == "A2B" else (self.G_B, self.att_B)

    def translate(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        generator, attention = self._nets(direction)
        return self._compose(generator, images, attention(images))  # soft mask, as the reference's test

    def visuals(self, images: torch.Tensor, direction: str) -> dict[str, torch.Tensor]:
        generator, attention = self._nets(direction)
        mask = attention(images)
        return {"output": self._compose(generator, images, mask), "attention": mask}

    def extra_state(self) -> dict[str, Any]:
        return {"pool_A": self.pool_A.state_dict(), "pool_B": self.pool_B.state_dict()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.pool_A.load_state_dict(state["pool_A"])
        self.pool_B.load_state_dict(state["pool_B"])
