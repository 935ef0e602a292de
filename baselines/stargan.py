"""StarGAN (Choi et al., CVPR 2018) as a two-domain model, following yunjey/stargan.

One generator G(x, c) conditioned on a one-hot target-domain code c (domain A = 0, B = 1), one
discriminator with a WGAN critic map and an auxiliary domain classifier. Every step updates D:

    D: −mean D_src(x) + mean D_src(G(x, c_trg)) + λ_cls·CE(D_cls(x), c_org) + λ_gp·GP
    G (every n_critic-th step): −mean D_src(G(x, c_trg)) + λ_rec·‖x − G(G(x, c_trg), c_org)‖₁
                                + λ_cls·CE(D_cls(G(x, c_trg)), c_trg)

A batch is the A and B images stacked, labelled by domain. Targets are, as in the reference,
a random permutation of the batch's labels (`two_domain_targets="permute"`, about half the
samples are asked for their own domain); `"flip"` always asks for the other domain.

Logged losses (unweighted, as the reference logs them): D_real, D_fake, D_cls, D_gp every step;
G_fake, G_rec, G_cls only on generator steps (the trainer averages each loss over the steps that
reported it, so critic-only steps do not dilute them).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, Optional

import torch
import torch.nn.functional as F

from baselines._protocol import Protocol, set_lr_factor, with_original_lr
from baselines._stargan_nets import StarDiscriminator, StarGenerator, default_repeat_num, gradient_penalty
from harness.registry import register_method
from harness.training.method import Method, MethodConfig, MethodContext

LOSS_NAMES = ("D_real", "D_fake", "D_cls", "D_gp", "G_fake", "G_rec", "G_cls")
ORIGINAL_LR = 1e-4  # solver.py: g_lr = d_lr = 1e-4


@dataclass(frozen=True)
class StarGANConfig(MethodConfig):
    # asgit_shared (leaderboard default): the schedule's lr (2e-4) and decay; original: lr 1e-4,
    # held constant (the reference's "decay" ends at 0.999·lr).
    protocol: Protocol = "asgit_shared"
    gan_loss: Optional[Literal["lsgan", "vanilla", "wgangp"]] = "wgangp"
    lambda_cls: float = 1.0
    lambda_rec: float = 10.0
    lambda_gp: float = 10.0
    n_critic: int = 5
    two_domain_targets: Literal["permute", "flip"] = "permute"
    g_conv_dim: int = 64
    d_conv_dim: int = 64
    g_repeat_num: int = 6
    # None: 6 as the reference, fewer below 128 px (resolved value recorded).
    d_repeat_num: Optional[int] = None


@register_method("stargan", description="StarGAN: one domain-conditioned G, WGAN-GP D with domain classifier (unsupervised)")
class StarGAN(Method):
    config_class = StarGANConfig
    settings = ("unsupervised",)

    def __init__(self, config: StarGANConfig, context: MethodContext):
        if config.gan_loss != "wgangp":
            raise ValueError(f"StarGAN trains with WGAN-GP only; gan_loss={config.gan_loss!r} is not supported")
        config = with_original_lr(config, ORIGINAL_LR)
        if config.d_repeat_num is None:
            config = dataclasses.replace(config, d_repeat_num=default_repeat_num(context.image_size))
        super().__init__(config, context)
        c, ch = self.config, context.channels
        self.G = StarGenerator(ch, 2, c.g_conv_dim, c.g_repeat_num)
        self.D = StarDiscriminator(context.image_size, ch, 2, c.d_conv_dim, c.d_repeat_num)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.adam(self.G.parameters()), "D": self.adam(self.D.parameters())}

    def compile_exclusions(self, channels_last: bool) -> dict[str, str]:
        return {"D": "the WGAN-GP gradient penalty differentiates D twice (double backward), "
                     "which torch.compile's aot_autograd does not support"}

    @staticmethod
    def one_hot(labels: torch.Tensor) -> torch.Tensor:
        return F.one_hot(labels, 2).float()

    def _targets(self, label_org: torch.Tensor) -> torch.Tensor:
        if self.config.two_domain_targets == "flip":
            return 1 - label_org
        # The global RNG: its state is checkpointed, so a resumed run draws the same targets.
        return label_org[torch.randperm(label_org.numel()).to(label_org.device)]

    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        c = self.config
        if c.protocol == "original":
            set_lr_factor(self, 1.0)
        x_real = torch.cat([batch["A"], batch["B"]], 0)
        label_org = torch.cat([torch.zeros(len(batch["A"]), dtype=torch.long),
                               torch.ones(len(batch["B"]), dtype=torch.long)]).to(x_real.device)
        label_trg = self._targets(label_org)
        c_org, c_trg = self.one_hot(label_org), self.one_hot(label_trg)

        # Discriminator, every step.
        src_real, cls_real = self.D(x_real)
        d_real = -src_real.float().mean()
        d_cls = F.cross_entropy(cls_real.float(), label_org)
        x_fake = self.G(x_real, c_trg)
        src_fake, _ = self.D(x_fake.detach())
        d_fake = src_fake.float().mean()
        alpha = torch.rand(x_real.size(0), 1, 1, 1, device=x_real.device)
        x_hat = (alpha * x_real + (1 - alpha) * x_fake.detach()).requires_grad_(True)
        d_gp = gradient_penalty(self.D(x_hat)[0], x_hat)
        self.optimize("D", d_real + d_fake + c.lambda_cls * d_cls + c.lambda_gp * d_gp)
        losses = {"D_real": d_real, "D_fake": d_fake, "D_cls": d_cls, "D_gp": d_gp}

        # Generator, every n_critic-th step (the reference's `(i + 1) % n_critic == 0`).
        if (self.step_count + 1) % c.n_critic == 0:
            x_fake = self.G(x_real, c_trg)
            self.set_requires_grad([self.D], False)
            src_fake, cls_fake = self.D(x_fake)
            self.set_requires_grad([self.D], True)
            g_fake = -src_fake.float().mean()
            g_cls = F.cross_entropy(cls_fake.float(), label_trg)
            g_rec = (x_real - self.G(x_fake, c_org)).abs().float().mean()
            self.optimize("G", g_fake + c.lambda_rec * g_rec + c.lambda_cls * g_cls)
            losses.update(G_fake=g_fake, G_rec=g_rec, G_cls=g_cls)
        return {k: v.detach() for k, v in losses.items()}

    def translate(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        target = 1 if direction == "A2B" else 0
        labels = torch.full((images.size(0),), target, dtype=torch.long, device=images.device)
        return self.G(images, self.one_hot(labels))

