"""Shared by both ASGIT families: discriminators, map finishing, transfer + injection, test placeholder.

A mixin for `Method` subclasses whose config is an `AttentionOptions`; it holds no training logic.
"""
from __future__ import annotations

import torch
from torch import nn

from harness.nets import init_weights
from methods.asgit.attention import build_attention_discriminator, finish_map, normalise_map
from methods.asgit.memory import AttentionMemory
from methods.asgit.transfer import build_transfer, inject


class AttentionGuidance:
    """Helpers; expects `self.config` (AttentionOptions) and `self.context` (MethodContext)."""

    @property
    def map_size(self) -> int:
        """Side of the stored maps: the discriminator's stride-8 grid (the transfer block upsamples x8)."""
        return max(1, self.context.image_size // 8)

    def generator_channels(self) -> int:
        return self.context.channels + (1 if self.config.injection == "alpha" else 0)

    def make_discriminator(self, in_channels: int, ndf: int, norm: str) -> nn.Module:
        c = self.config
        return build_attention_discriminator(c.attention, in_channels, ndf, norm, c.pha_layer, c.tam_branch_norm)

    def make_transfer(self) -> nn.Module:
        return init_weights(build_transfer(self.config.transfer_block, self.config.transfer_last_norm),
                            self.config.init_gain)

    def make_memory(self) -> AttentionMemory:
        return AttentionMemory(self.map_size, self.config.memory_init)

    def finish(self, raw: torch.Tensor) -> torch.Tensor:
        """A discriminator's raw map → the normalised map on the memory grid (what guidance consumes)."""
        c = self.config
        return finish_map(raw, self.map_size, c.attn_norm, c.attn_norm_scope, c.attn_norm_eps)

    def guide(self, images: torch.Tensor, attention: torch.Tensor, transfer: nn.Module) -> torch.Tensor:
        """x' = x ⊕ g(M): the generator input for `images` guided by maps `attention`."""
        weights = transfer(attention.to(device=images.device, dtype=images.dtype), images.shape[-1])
        return inject(images, weights, self.config.injection)

    def placeholder(self, images: torch.Tensor, memory_code_value: float = 0.5) -> torch.Tensor:
        """The constant map fed at test time (see `AttentionOptions.test_placeholder`)."""
        c = self.config
        value = 1.0
        if c.test_placeholder == "code" and c.injection == "rhp":
            value = memory_code_value  # the reference's memory-RHP test path: G(1.5·x)
        n = images.shape[0]
        return torch.full((n, 1, self.map_size, self.map_size), value, device=images.device, dtype=images.dtype)

    @staticmethod
    def display(raw: torch.Tensor, size: int) -> torch.Tensor:
        """A map for the sample grid: per-sample min-max to [0, 1] at image size."""
        m = finish_map(normalise_map(raw.float(), "minmax", "sample", 1e-8), size, "none", "sample", 1e-8)
        return m.clamp(0, 1)
