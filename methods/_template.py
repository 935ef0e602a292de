"""Copy-me method: the contributor guide for adding a method, as working code.

To add a method called `mymethod`:

1. Copy this file to `methods/mymethod.py` (or `baselines/` for a baseline). Files whose
   name starts with `_` are not registered, so this template never shows up in `harness list`.
2. Rename the classes, put every hyper-parameter in the config dataclass (frozen, typed, with
   the original paper's value as default and a comment where you deviate), and uncomment the
   `@register_method` line. That is the whole registration: nothing else in the tree changes.
3. Build networks in `__init__` from `self.config` and `self.context` (image size, channels,
   setting, schedule). Reuse `harness.nets` blocks; put nets only your method needs in a
   file of their own (`methods/_mymethod_nets.py`).
4. `configure_optimizers` returns named optimizers; `self.adam(params)` uses the resolved lr and
   betas (config, else schedule). `training_step` does one iteration in your update order,
   calling `self.optimize(name, loss)` for each update, and returns named, detached losses.
5. `translate` is inference only. Test-time mode is `config.inference_mode` ("eval" or "train").
6. Anything outside parameters and optimizers that must survive a resume (pools, memories,
   counters) goes through `extra_state` / `load_extra_state`.
7. Run `harness run --task demo --methods mymethod` and add a test beside the others.

The method below is a deliberately small, working example: one ResNet generator per
direction trained with an L1 cycle loss and a least-squares GAN loss.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from harness.nets import GANLoss, PatchDiscriminator, ResnetGenerator, init_weights
from harness.training.method import Method, MethodConfig, MethodContext

# from harness.registry import register_method


@dataclass(frozen=True)
class TemplateConfig(MethodConfig):
    lambda_cycle: float = 10.0  # weight of the cycle-consistency L1 term
    ngf: int = 16               # generator width (small: this is an example)
    n_blocks: int = 2


# @register_method("mymethod", description="one line saying what the method is (unsupervised)")
class TemplateMethod(Method):
    """A two-generator cycle model; cite the paper and list deviations here."""

    config_class = TemplateConfig
    settings = ("unsupervised",)

    def __init__(self, config: TemplateConfig, context: MethodContext):
        super().__init__(config, context)
        c, ch = self.config, context.channels
        self.G_AB = init_weights(ResnetGenerator(ch, ch, c.ngf, c.n_blocks), c.init_gain)
        self.G_BA = init_weights(ResnetGenerator(ch, ch, c.ngf, c.n_blocks), c.init_gain)
        self.D_A = init_weights(PatchDiscriminator(ch, 16, 2), c.init_gain)
        self.D_B = init_weights(PatchDiscriminator(ch, 16, 2), c.init_gain)
        self.gan = GANLoss(c.gan_loss)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.adam([*self.G_AB.parameters(), *self.G_BA.parameters()]),
                "D": self.adam([*self.D_A.parameters(), *self.D_B.parameters()])}

    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        a, b = batch["A"], batch["B"]
        fake_b, fake_a = self.G_AB(a), self.G_BA(b)
        self.set_requires_grad([self.D_A, self.D_B], False)
        loss_gan = self.gan(self.D_B(fake_b), True) + self.gan(self.D_A(fake_a), True)
        loss_cycle = self.config.lambda_cycle * (F.l1_loss(self.G_BA(fake_b), a) + F.l1_loss(self.G_AB(fake_a), b))
        self.optimize("G", loss_gan + loss_cycle)
        self.set_requires_grad([self.D_A, self.D_B], True)
        loss_d = 0.5 * (self.gan(self.D_B(b), True) + self.gan(self.D_B(fake_b.detach()), False)
                        + self.gan(self.D_A(a), True) + self.gan(self.D_A(fake_a.detach()), False))
        self.optimize("D", loss_d)
        return {"G_gan": loss_gan.detach(), "G_cycle": loss_cycle.detach(), "D": loss_d.detach()}

    def translate(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        return (self.G_AB if direction == "A2B" else self.G_BA)(images)
