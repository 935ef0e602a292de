"""Shared by both ASGIT families: discriminators, map finishing, transfer + injection, test placeholder.

A mixin for `Method` subclasses whose config is an `AttentionOptions`; it holds no training logic.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from harness.errors import UsageError
from harness.nets import init_weights
from methods.asgit.attention import build_attention_discriminator, finish_map
from methods.asgit.diagnostics import attention_diagnostics
from methods.asgit.memory import AttentionMemory
from methods.asgit.transfer import build_transfer, inject, unguided


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
        # Eq. 1 needs every image's last map; data-parallel ranks see disjoint images and only rank 0's
        # state is checkpointed, so a per-process memory would silently break it: refuse instead.
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            raise UsageError(f"{type(self).__name__}: the per-image attention memory (Eq. 1) runs in one process "
                             f"only, not {dist.get_world_size()}; train it with one process (no torchrun), or use "
                             "--set attn_source=online (no memory)")
        return AttentionMemory(self.map_size, self.config.memory_init, self.config.memory_frame,
                               self.context.image_size)

    def finish(self, raw: torch.Tensor) -> torch.Tensor:
        """A discriminator's raw map → the normalised map on the memory grid (what guidance consumes)."""
        c = self.config
        return finish_map(raw, self.map_size, c.attn_norm, c.attn_norm_scope, c.attn_norm_eps)

    def guide(self, images: torch.Tensor, attention: torch.Tensor, transfer: nn.Module) -> torch.Tensor:
        """x' = x ⊕ g(M): the generator input for `images` guided by maps `attention`."""
        weights = transfer(attention.to(device=images.device, dtype=images.dtype), images.shape[-1])
        return inject(images, weights, self.config.injection)

    def placeholder(self, images: torch.Tensor, memory_code_value: float = 0.5) -> torch.Tensor:
        """The constant map of the test path's first (or only) pass (see `AttentionOptions.test_placeholder`):
        all ones (the paper's placeholder, the memory's initial map), 0.5 for the reference's memory RHP."""
        c = self.config
        value = 1.0
        if c.test_placeholder == "code" and c.injection == "rhp":
            value = memory_code_value  # the reference's memory-RHP test path: G(1.5·x)
        return self.constant_map(images, value)

    def constant_map(self, images: torch.Tensor, value: float = 1.0) -> torch.Tensor:
        n = images.shape[0]
        return torch.full((n, 1, self.map_size, self.map_size), value, device=images.device, dtype=images.dtype)

    def initial_map(self, images: torch.Tensor) -> torch.Tensor:
        """The map of a first visit at test: the memory's initial map (`memory_init`): all ones, or
        U[0, 1) noise from a fixed seed (test images have no training memory, so not per image)."""
        if self.config.memory_init == "uniform":
            generator = torch.Generator().manual_seed(0)
            noise = torch.rand((images.shape[0], 1, self.map_size, self.map_size), generator=generator)
            return noise.to(device=images.device, dtype=images.dtype, non_blocking=True)
        return self.constant_map(images)

    @staticmethod
    def constant_like(maps: torch.Tensor) -> torch.Tensor:
        """Each map replaced by a constant map of its mean (the `constant` ablation)."""
        return maps.mean((-2, -1), keepdim=True).expand_as(maps).contiguous()

    def ablated(self, maps: torch.Tensor, direction: str) -> torch.Tensor:
        """Test-time maps under `attn_source`: `constant`, each map's mean; `shuffled`, each image
        gets the previous test image's map (in the order translated; the first one the initial map),
        whatever the batching; otherwise the maps unchanged."""
        how = getattr(self.config, "attn_source", "memory")
        if how == "constant":
            return self.constant_like(maps)
        if how != "shuffled":
            return maps
        partners = self.__dict__.setdefault("_test_partner", {})
        previous = partners.get(direction)
        if previous is None or previous.shape != maps.shape[1:] or previous.device != maps.device:
            previous = self.initial_map(maps[:1])[0]
        partners[direction] = maps[-1].detach()
        return torch.cat([previous[None].to(maps.dtype), maps[:-1]])

    def guided_output_fn(self, direction: str, generator: nn.Module | None = None):
        """(images, maps) → generator(x ⊕ g(M)) for `direction`: this method's generator, or another
        one fed the same guided inputs (the diagnostics' control)."""
        if generator is None:
            return lambda images, maps: self.guided_output(images, maps, direction)
        return lambda images, maps: generator(self.guide(images, maps, self.transfer_for(direction)))

    def unguided_input(self, images: torch.Tensor, transfer: nn.Module) -> torch.Tensor:
        """A pass without a map: RHP factor 1 (the images); Alpha the fourth channel `alpha_unguided` names."""
        if self.config.injection == "alpha" and self.config.alpha_unguided == "transfer":
            return self.guide(images, self.constant_map(images), transfer)  # g(1): in g's range
        return unguided(images, self.config.injection)

    @staticmethod
    def display(attention: torch.Tensor, size: int) -> torch.Tensor:
        """A map for the sample grid as G gets it (no re-normalisation, so a flat map looks flat)."""
        return finish_map(attention.float(), size, "none", "sample", 1e-8).clamp(0, 1)

    def diagnostic_visuals(self, images: torch.Tensor, direction: str) -> dict[str, torch.Tensor]:
        """Sample-grid columns: the feedback map M (as G gets it), the translation (the test path), and
        4·|G(x ⊕ M) − G(x ⊕ 1)| / 2: the attention influence per pixel (share of the [-1, 1] range, x4)."""
        attention = self.feedback_map(images, direction)
        guided = self.guided_output(images, attention, direction)
        plain = self.guided_output(images, self.constant_map(images), direction)
        influence = ((guided - plain).abs().mean(1, keepdim=True) / 2 * 4).clamp(0, 1)
        return {"attention": self.display(attention, images.shape[-1]), "output": self.translate(images, direction),
                "influence_x4": influence}

    def diagnostics(self, batches: dict, quantise, run_dir=None) -> dict:
        """Called by the pipeline after training; recorded in result.json (see `diagnostics.py`).
        `quantise`: the translations' uint8 rounding; `run_dir`: where to look for a control run."""
        return attention_diagnostics(self, batches, quantise, run_dir)
