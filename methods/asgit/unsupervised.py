"""Unsupervised ASGIT: the CycleGAN step with attention-guided generator inputs (Eqs. 1-5, 10-11).

Built on `baselines.cyclegan.CycleGAN` through its hooks, so the losses and update order are
CycleGAN's (ResNet-9 generators, LSGAN, cycle 10, pools of 50, G step then D step). What ASGIT
changes:
- discriminators are PHA or TAM attention discriminators (`attention.py`);
- the translation pass sees x' = x ⊕ g(M_x); with `attn_source="memory"` (paper, Eq. 1) M_x is the
  stored map of D_Y on G's output for this image at its previous visit, written from the G-step
  forward pass; with `"online"` (the reference code's v2) it is D_X's live map of x;
- the reconstruction pass is unguided (literal Eq. 10) unless `recon_guidance="online"` (v2);
- one transfer block g, shared by G and F, trains in the generators' optimizer.
Naming: D_A judges domain A (the paper's D_X), D_B judges B (D_Y).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

from baselines.cyclegan import CycleGAN, CycleGANConfig
from harness.nets import ResnetGenerator, init_weights
from harness.training.method import MethodContext
from methods.asgit.guidance import AttentionGuidance
from methods.asgit.options import AttentionOptions, register_variant


@dataclass(frozen=True)
class AsgitCycleConfig(AttentionOptions, CycleGANConfig):
    # P19: Eq. 11 has no identity term and the reference ASGIT models use 0 (CycleGAN's code: 0.5).
    lambda_identity: float = 0.0
    # P6/P7: the paper's feedback loop (per-image memory, D_Y's map of G(x)) for all four variants;
    # "online" is the reference v2 (README's Alpha runs): D_X's live map of the real input.
    # Ablations of the paper's claim that the map guides G (the memory loop runs unchanged):
    # "shuffled" feeds, in training and at test, the map of another image (training: the image whose
    # map the memory wrote last; test: the previous test image's feedback map); "constant" feeds a
    # constant map with the mean of the map "memory" would feed.
    attn_source: Literal["memory", "online", "shuffled", "constant"] = "memory"
    # P12: Eq. 10 writes F(G(x)) with no map (reference v1); "online" guides it with the live map of
    # the discriminator of the fake's domain (reference v2).
    recon_guidance: Literal["none", "online"] = "none"


class AsgitCycle(AttentionGuidance, CycleGAN):
    """ASGIT on the CycleGAN backbone; the registered variants fix `attention` and `injection`."""

    config_class = AsgitCycleConfig
    settings = ("unsupervised",)

    def __init__(self, config: AsgitCycleConfig, context: MethodContext):
        super().__init__(config, context)
        self.transfer = self.make_transfer()
        self.memory = self.make_memory() if config.attn_source != "online" else None

    # ---- networks (CycleGAN hooks) --------------------------------------------------------
    def build_generator(self, channels: int) -> torch.nn.Module:
        c = self.config
        return ResnetGenerator(self.generator_channels(), channels, c.ngf, c.n_blocks, c.norm)

    def build_discriminator(self, channels: int) -> torch.nn.Module:
        return self.make_discriminator(channels, self.config.ndf, self.config.norm)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.adam([*self.G_AB.parameters(), *self.G_BA.parameters(), *self.transfer.parameters()]),
                "D": self.adam([*self.D_A.parameters(), *self.D_B.parameters()])}

    # ---- attention ------------------------------------------------------------------------
    def discriminator_of(self, side: str) -> torch.nn.Module:
        """The discriminator that judges domain `side` ("A" or "B")."""
        return self.D_A if side == "A" else self.D_B

    @torch.no_grad()
    def live_map(self, side: str, images: torch.Tensor) -> torch.Tensor:
        _, raw = self.discriminator_of(side)(images, with_map=True)
        return self.finish(raw)

    # ---- the CycleGAN step's hooks ----------------------------------------------------------
    def generator_input(self, images: torch.Tensor, direction: str, batch: dict[str, Any]) -> torch.Tensor:
        source, how = direction[0], self.config.attn_source
        if how == "online":
            attention = self.live_map(source, images)
        else:
            attention = self.memory.read(source, batch[f"{source}_id"], images.device, batch.get(f"{source}_view"),
                                         partner=how == "shuffled")
            if how == "constant":
                attention = self.constant_like(attention)
        return self.guide(images, attention, self.transfer)

    def reconstruction_input(self, fakes: torch.Tensor, direction: str) -> torch.Tensor:
        if self.config.recon_guidance == "online":
            return self.guide(fakes, self.live_map(direction[0], fakes), self.transfer)
        return self.unguided_input(fakes, self.transfer)

    def identity_input(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        # Reference: v1 (memory) feeds the identity pass unguided, v2 (online) guides it with the
        # live map of the discriminator of the images' own domain.
        if self.config.attn_source == "online":
            return self.guide(images, self.live_map(direction[-1], images), self.transfer)
        return self.unguided_input(images, self.transfer)

    def generator_adversarial(self, fake_B: torch.Tensor, fake_A: torch.Tensor,
                              batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        logits_B, raw_B = self.D_B(fake_B, with_map=True)
        logits_A, raw_A = self.D_A(fake_A, with_map=True)
        if self.memory is not None:
            # Eq. 1: x's next visit is guided by D_Y's map of G(x) from this forward pass (D before its update).
            self.memory.write("A", batch["A_id"], self.finish(raw_B), batch.get("A_view"))
            self.memory.write("B", batch["B_id"], self.finish(raw_A), batch.get("B_view"))
        return self.gan(logits_B, True), self.gan(logits_A, True)

    # ---- inference ------------------------------------------------------------------------
    def guided_output(self, images: torch.Tensor, attention: torch.Tensor, direction: str) -> torch.Tensor:
        generator = self.G_AB if direction == "A2B" else self.G_BA
        return generator(self.guide(images, attention, self.transfer))

    def transfer_for(self, direction: str) -> torch.nn.Module:
        return self.transfer

    def untrained_generator(self) -> torch.nn.Module:
        """A fresh generator of this model's shape (the diagnostics' control when no CycleGAN run exists)."""
        return init_weights(self.build_generator(self.context.channels), self.config.init_gain)

    def feedback_map(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        """The kind of map G got in training: online, the live map of the input; memory, Eq. 1 once
        (a first visit with the memory's initial map, then D_Y's map of that output), passed through
        the `shuffled` / `constant` ablation when one is set."""
        if self.config.attn_source == "online":
            return self.live_map(direction[0], images)
        first = self.guided_output(images, self.initial_map(images), direction)
        return self.ablated(self.live_map(direction[-1], first), direction)

    def test_map(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        """The map G is given at test (`test_placeholder`)."""
        c = self.config
        if c.test_placeholder == "training" or (c.test_placeholder == "code" and c.attn_source == "online"):
            return self.feedback_map(images, direction)  # the reference v2 tests with the live map too
        return self.placeholder(images)

    def translate(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        return self.guided_output(images, self.test_map(images, direction), direction)

    def visuals(self, images: torch.Tensor, direction: str) -> dict[str, torch.Tensor]:
        return self.diagnostic_visuals(images, direction)

    # ---- state ------------------------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        memory = {"memory": self.memory.state_dict()} if self.memory is not None else {}
        return {**super().extra_state(), **memory}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        state = dict(state)
        if self.memory is not None:
            self.memory.load_state_dict(state.pop("memory"))
        super().load_extra_state(state)


AsgitPhaRhp = register_variant("asgit-pha-rhp", AsgitCycle,
                               "ASGIT PHA+RHP (paper default): post-hoc attention, x·(1+g(M)), CycleGAN backbone",
                               attention="pha", injection="rhp", attn_norm="minmax")
AsgitPhaAlpha = register_variant("asgit-pha-alpha", AsgitCycle,
                                 "ASGIT PHA+Alpha: post-hoc attention, [x, g(M)] 4-channel input, CycleGAN backbone",
                                 attention="pha", injection="alpha", attn_norm="minmax")
AsgitTamRhp = register_variant("asgit-tam-rhp", AsgitCycle,
                               "ASGIT TAM+RHP: trainable attention branch in D, x·(1+g(M)), CycleGAN backbone",
                               attention="tam", injection="rhp")
AsgitTamAlpha = register_variant("asgit-tam-alpha", AsgitCycle,
                                 "ASGIT TAM+Alpha: trainable attention branch in D, [x, g(M)], CycleGAN backbone",
                                 attention="tam", injection="alpha")
