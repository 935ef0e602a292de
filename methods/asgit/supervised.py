"""Supervised ASGIT: pix2pix with attention feedback and a learned transfer block (Eqs. 1, 4, 8-9).

Per direction one model (G, D_Y, T), as the paper trains one model per Cityscapes direction: a
U-Net generator fed x' = x·(1 + g(M_x)) (or [x, g(M_x)] with Alpha), a conditional PatchGAN with
PHA or TAM attention, λ_L1 = 100, the D step before the G step (pix2pix order). M_x is the per-image
memory: D's map of (x, G(x')) from the G-step forward pass, after the D update (reference order),
read at the image's next visit. g trains in G's optimizer. At test (`test_placeholder`), G sees
x·(1 + g(M)) with M = D's map of its output for x·(1 + g(1)) ("training"), or x·(1 + g(1)) alone
("ones"/"code": paper and reference).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Optional

import torch
import torch.nn.functional as F
from torch import nn

from harness.nets import GANLoss, ImagePool, UnetGenerator, init_weights, unet_depth_for
from harness.training.method import Method, MethodContext
from methods.asgit.guidance import AttentionGuidance
from methods.asgit.options import AttentionOptions, register_variant


@dataclass(frozen=True)
class AsgitSupervisedConfig(AttentionOptions):
    # P13: paper and reference supervised code agree on a learned g here.
    transfer_block: Literal["learned", "fixed"] = "learned"
    # P17: the paper adopts least squares (Eq. 7, in its supervised section); the reference supervised
    # code and pix2pix use vanilla BCE ("vanilla").
    gan_loss: Optional[Literal["lsgan", "vanilla", "wgangp"]] = "lsgan"
    lambda_l1: float = 100.0
    # P18: the paper writes D_Y(y) but builds on pix2pix; the reference D sees [x, output] (raw x, not x').
    conditional_d: bool = True
    ngf: int = 64
    ndf: int = 64
    # P23: the reference supervised model uses InstanceNorm in G and D (the pix2pix baseline: batch).
    norm: Literal["instance", "batch", "none"] = "instance"
    dropout: bool = True
    pool_size: int = 0
    # P23: the reference tests without --eval (dropout active), like pix2pix.
    inference_mode: Literal["eval", "train"] = "train"


class AsgitSupervised(AttentionGuidance, Method):
    """ASGIT on the pix2pix backbone; the registered variants fix `attention`."""

    config_class = AsgitSupervisedConfig
    settings = ("supervised",)

    def __init__(self, config: AsgitSupervisedConfig, context: MethodContext):
        super().__init__(config, context)
        c, ch = self.config, context.channels
        depth = unet_depth_for(context.image_size)
        d_channels = 2 * ch if c.conditional_d else ch
        self.G = nn.ModuleDict({d: init_weights(UnetGenerator(self.generator_channels(), ch, depth, c.ngf, c.norm,
                                                              c.dropout), c.init_gain) for d in self.directions})
        self.D = nn.ModuleDict({d: init_weights(self.make_discriminator(d_channels, c.ndf, c.norm), c.init_gain)
                                for d in self.directions})
        self.T = nn.ModuleDict({d: self.make_transfer() for d in self.directions})
        self.gan = GANLoss(c.gan_loss)
        self.memory = self.make_memory()
        seed = int(torch.randint(0, 2**31 - 1, ()).item())
        self.pools = {d: ImagePool(c.pool_size, seed + i) for i, d in enumerate(self.directions)}

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        opts = {}
        for d in self.directions:
            opts[f"G_{d}"] = self.adam([*self.G[d].parameters(), *self.T[d].parameters()])
            opts[f"D_{d}"] = self.adam(self.D[d].parameters())
        return opts

    def d_input(self, source: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return torch.cat([source, image], 1) if self.config.conditional_d else image

    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        c = self.config
        losses: dict[str, torch.Tensor] = {}
        for d in self.directions:
            side, target = d[0], d[-1]
            x, y, ids, view = batch[side], batch[target], batch[f"{side}_id"], batch.get(f"{side}_view")
            D = self.D[d]
            fake = self.G[d](self.guide(x, self.memory.read(side, ids, x.device, view), self.T[d]))

            self.set_requires_grad([D], True)
            pooled = self.pools[d].query(self.d_input(x, fake.detach()))
            loss_d = 0.5 * (self.gan(D(self.d_input(x, y)), True) + self.gan(D(pooled.detach()), False))
            self.optimize(f"D_{d}", loss_d)

            self.set_requires_grad([D], False)
            logits, raw = D(self.d_input(x, fake), with_map=True)
            loss_gan = self.gan(logits, True)
            loss_l1 = c.lambda_l1 * F.l1_loss(fake, y)
            self.optimize(f"G_{d}", loss_gan + loss_l1)
            self.memory.write(side, ids, self.finish(raw), view)
            losses.update({f"D_{d}": loss_d, f"G_gan_{d}": loss_gan, f"G_L1_{d}": loss_l1})
        return {k: v.detach() for k, v in losses.items()}

    def guided_output(self, images: torch.Tensor, attention: torch.Tensor, direction: str) -> torch.Tensor:
        return self.G[direction](self.guide(images, attention, self.T[direction]))

    def transfer_for(self, direction: str) -> nn.Module:
        return self.T[direction]

    def untrained_generator(self) -> nn.Module:
        """A fresh U-Net of this model's shape (the diagnostics' control: no supervised baseline shares it)."""
        c = self.config
        return init_weights(UnetGenerator(self.generator_channels(), self.context.channels,
                                          unet_depth_for(self.context.image_size), c.ngf, c.norm, c.dropout), c.init_gain)

    def feedback_map(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        """Eq. 1 once: D's map of (x, G(x·(1 + g(M0)))), M0 the memory's initial map, the kind of map
        G got in training."""
        first = self.guided_output(images, self.initial_map(images), direction)
        _, raw = self.D[direction](self.d_input(images, first), with_map=True)
        return self.finish(raw)

    def test_map(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        """"training": `feedback_map`; "ones"/"code": x·(1 + g(1)), the paper's and the reference's input."""
        if self.config.test_placeholder == "training":
            return self.feedback_map(images, direction)
        return self.placeholder(images, memory_code_value=1.0)

    def translate(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        return self.guided_output(images, self.test_map(images, direction), direction)

    def visuals(self, images: torch.Tensor, direction: str) -> dict[str, torch.Tensor]:
        return self.diagnostic_visuals(images, direction)

    def extra_state(self) -> dict[str, Any]:
        return {"memory": self.memory.state_dict(), "pools": {d: p.state_dict() for d, p in self.pools.items()}}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.memory.load_state_dict(state["memory"])
        for d, pool in self.pools.items():
            pool.load_state_dict(state["pools"][d])


AsgitSupPha = register_variant("asgit-sup-pha", AsgitSupervised,
                               "ASGIT supervised (PHA): pix2pix U-Net + conditional PatchGAN, post-hoc attention, "
                               "learned transfer block, L1 100", attention="pha", attn_norm="minmax")
AsgitSupTam = register_variant("asgit-sup-tam", AsgitSupervised,
                               "ASGIT supervised (TAM): pix2pix U-Net + conditional PatchGAN with trainable "
                               "attention, learned transfer block, L1 100", attention="tam", attn_norm="minmax")
