"""CUT and FastCUT (Park, Efros, Zhang, Zhu, "Contrastive Learning for Unpaired Image-to-Image
Translation", ECCV 2020), following taesungp/contrastive-unpaired-translation (`models/cut_model.py`).

One generator G: X → Y, one PatchGAN D on Y, and an MLP head per PatchNCE layer. Per step, as the
reference's `optimize_parameters`: G translates x (CUT: x and y together, for the identity term;
FastCUT: x flipped left-right with p = 0.5); one Adam step on D, then one joint step on G and the
heads (D frozen):

    D: ½·(GAN(D(G(x)), fake) + GAN(D(y), real))
    G: λ_GAN·GAN(D(G(x)), real) + NCE(x, G(x))                      (FastCUT, λ_NCE = 10)
       λ_GAN·GAN(D(G(x)), real) + ½·(NCE(x, G(x)) + NCE(y, G(y)))   (CUT, λ_NCE = 1)

NCE(s, t) = λ_NCE · mean over the layers `nce_layers` (0, 4, 8, 12, 16 of the generator) of the
PatchNCE loss: 256 positions per layer, the same in s and t; the query is the head's embedding
of G's features of t at a position, its positive the embedding of s's features there (no
gradient), its negatives those at the other sampled positions of the same image; cross-entropy
at temperature 0.07. With flip-equivariance, t's features are flipped back before sampling.
LSGAN, no image pool, Adam (0.5, 0.999), xavier init with gain 0.02, anti-aliased G and D.

Directions: CUT learns one direction. `directions: both` (default) trains two independent models
in one run, A→B and B→A, each exactly as above on the same batches (nothing shared but the data),
so every table column is filled from one result; `A2B` or `B2A` trains one model (the reference's
`--direction AtoB|BtoA`), and the result then has only that direction. The value is recorded.

`protocol`: `asgit_shared` (leaderboard default) trains with the schedule's learning rate and
decay rule. `original` uses the reference's rule: lr 2e-4, constant for n_epochs, then the
per-epoch linear rule 1 − (epoch + 1 − n_epochs)/(n_epochs_decay + 1), with the reference's split
(CUT 200 + 200, FastCUT 150 + 50 epochs) scaled to the schedule's length (the trainer owns the
run length; the resolved constant epochs are recorded as `original_constant_epochs`). On the paper
schedule (200 epochs) FastCUT thus runs its reference length, CUT half of its 400 epochs.
Data loading (resize, crop, flip) is the task's, as for every method.

Faithfulness, tested in tests/test_cut.py: parameter counts equal the reference's networks (G
11,378,179, D 2,764,737, heads 560,384 at the defaults), and one step from equal weights and batch
equals a re-implementation of the reference's `optimize_parameters` (losses and updated weights).

Deviations from the reference code, each without effect on the computed step unless stated:
- The MLP heads are built with the networks (from the generator's known channels), not at the
  first forward pass; the reference's extra data-dependent pass (gradients computed, then
  zeroed) is not run. Initial values therefore come from a different point of the RNG stream.
- Patch positions and the flip coin come from torch's global CPU generator (checkpointed, so a
  resumed run draws the same), not numpy's.
- The keys' encoder pass runs without autograd: the reference detaches the keys after the head,
  so no gradient ever flows through them.
- Negatives are grouped by the actual batch size, not the `--batch_size` option (same when full).
- The PatchNCE arithmetic and the L2 normalisation run in fp32 also under bf16 autocast.
- CUT with `directions: both` is two CUT models, not a bidirectional variant of CUT.
- `norm: none` keeps conv biases (as the shared blocks do); the reference drops them there.
Logged losses, per direction (suffix _A2B / _B2A), as the reference logs them (weights included):
D_real, D_fake, G_GAN, NCE, NCE_Y (CUT only).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, Optional

import torch
import torch.nn.functional as F
from torch import nn

from baselines._cut_nets import CUTDiscriminator, CUTGenerator, PatchSampleMLP, init_cut, sample_patch_ids
from baselines._protocol import Protocol, set_lr_factor, with_original_lr
from harness.errors import UsageError
from harness.nets import GANLoss
from harness.registry import register_method
from harness.training.method import Method, MethodConfig, MethodContext

ORIGINAL_LR = 2e-4  # options/train_options.py


@dataclass(frozen=True)
class CUTConfig(MethodConfig):
    protocol: Protocol = "asgit_shared"
    gan_loss: Optional[Literal["lsgan", "vanilla", "wgangp"]] = "lsgan"
    directions: Literal["both", "A2B", "B2A"] = "both"
    lambda_gan: float = 1.0
    lambda_nce: float = 1.0
    nce_idt: bool = True
    flip_equivariance: bool = False
    nce_layers: tuple[int, ...] = (0, 4, 8, 12, 16)
    num_patches: int = 256
    mlp_channels: int = 256  # the reference's --netF_nc
    nce_temperature: float = 0.07
    # False: negatives from the same image only (CUT, FastCUT); True: from the whole batch (SinCUT).
    nce_negatives_from_batch: bool = False
    ngf: int = 64
    ndf: int = 64
    n_blocks: int = 9
    n_layers_d: int = 3
    norm_g: str = "instance"
    norm_d: str = "instance"
    antialias: bool = True  # the reference's default; False = its --no_antialias (stride-2 convs)
    antialias_up: bool = True  # False = its --no_antialias_up (transposed convs)
    init_type: Literal["xavier", "normal"] = "xavier"
    original_n_epochs: int = 200
    original_n_epochs_decay: int = 200
    # None: resolved under `original` to the schedule's epochs × n_epochs / (n_epochs + n_epochs_decay).
    original_constant_epochs: Optional[int] = None


@dataclass(frozen=True)
class FastCUTConfig(CUTConfig):
    lambda_nce: float = 10.0
    nce_idt: bool = False
    flip_equivariance: bool = True
    original_n_epochs: int = 150
    original_n_epochs_decay: int = 50


def patch_nce_loss(query: torch.Tensor, key: torch.Tensor, groups: int, temperature: float) -> torch.Tensor:
    """Per-patch cross-entropy of (positive, negatives) logits; rows are `groups` blocks of P patches."""
    key = key.detach()
    rows, dim = query.shape
    # Batched dot products, as the reference computes them (same float rounding).
    positive = torch.bmm(query.view(rows, 1, dim), key.view(rows, dim, 1)).view(rows, 1)
    q, k = query.view(groups, -1, dim), key.view(groups, -1, dim)
    negative = torch.bmm(q, k.transpose(2, 1))
    n = q.shape[1]
    # A patch with itself is the positive, not a negative: exp(-10 / T) ≈ 0 in the softmax.
    negative = negative.masked_fill(torch.eye(n, dtype=torch.bool, device=q.device)[None], -10.0).view(-1, n)
    logits = torch.cat([positive, negative], 1) / temperature
    return F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device),
                           reduction="none")


def flip_coin() -> bool:
    """FastCUT's flip-equivariance draw, p = 0.5, from the global CPU generator."""
    return bool(torch.rand(()) < 0.5)


@register_method("cut", description="CUT (Park et al. 2020): PatchNCE + LSGAN, anti-aliased ResNet G, identity "
                                    "NCE; one model per direction (unsupervised, not in the ASGIT paper)")
class CUT(Method):
    config_class = CUTConfig
    settings = ("unsupervised",)

    def __init__(self, config: CUTConfig, context: MethodContext):
        config = with_original_lr(config, ORIGINAL_LR)
        if config.protocol == "original" and config.original_constant_epochs is None:
            share = config.original_n_epochs / (config.original_n_epochs + config.original_n_epochs_decay)
            config = dataclasses.replace(config, original_constant_epochs=round(context.schedule.epochs * share))
        super().__init__(config, context)
        c, ch = self.config, context.channels
        self.directions = ("A2B", "B2A") if c.directions == "both" else (c.directions,)
        self.G = nn.ModuleDict({d: init_cut(CUTGenerator(ch, ch, c.ngf, c.n_blocks, c.norm_g, c.antialias,
                                                         c.antialias_up), c.init_type, c.init_gain)
                                for d in self.directions})
        self.D = nn.ModuleDict({d: init_cut(CUTDiscriminator(ch, c.ndf, c.n_layers_d, c.norm_d, c.antialias),
                                            c.init_type, c.init_gain) for d in self.directions})
        layers = list(c.nce_layers)
        # PatchNCE compares encoder features: the stem and two downsamplings are layers 0-11, the residual
        # blocks 12 .. 11 + n_blocks; a larger index would name a decoder layer.
        n_layers = 12 + c.n_blocks
        if not layers or layers != sorted(set(layers)) or layers[0] < 0 or layers[-1] >= n_layers:
            raise UsageError(f"nce_layers {layers} must be ascending, distinct encoder layer indices below {n_layers} "
                             f"(stem, downsamplings and the {c.n_blocks} residual blocks); e.g. "
                             f"--set nce_layers=0,4,8,12,{11 + c.n_blocks}")
        channels = [self.G[self.directions[0]].layer_channels[i] for i in layers]
        self.F = nn.ModuleDict({d: init_cut(PatchSampleMLP(channels, c.mlp_channels), c.init_type, c.init_gain)
                                for d in self.directions})
        self.gan = GANLoss(c.gan_loss)

    def compile_exclusions(self, channels_last: bool) -> dict[str, str]:
        if channels_last and self.config.antialias_up:  # found by the CPU rehearsal of the CUDA path
            return {"G": "under channels_last, inductor's stride check fails in the backward of the replicate "
                         "padding of its anti-aliased upsampling (torch 2.14)"}
        return {}

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        opts: dict[str, torch.optim.Optimizer] = {}
        for d in self.directions:
            opts[f"G_{d}"] = self.adam(self.G[d].parameters())
            opts[f"D_{d}"] = self.adam(self.D[d].parameters())
            opts[f"F_{d}"] = self.adam(self.F[d].parameters())
        return opts

    # ---- learning rate under `original` ----------------------------------------------------
    def original_lr_factor(self) -> float:
        """The reference's linear rule per epoch, on the schedule's epochs split as the reference's."""
        c, epochs = self.config, self.context.schedule.epochs
        epoch = self.step_count // max(1, self.context.iters_per_epoch)
        constant = c.original_constant_epochs or 0
        return 1.0 - max(0, epoch + 1 - constant) / float(epochs - constant + 1)

    # ---- training --------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        if self.config.protocol == "original":
            set_lr_factor(self, self.original_lr_factor())
        losses: dict[str, torch.Tensor] = {}
        for d in self.directions:
            source, target = (batch["A"], batch["B"]) if d == "A2B" else (batch["B"], batch["A"])
            losses.update({f"{k}_{d}": v.detach() for k, v in self.train_direction(d, source, target).items()})
        return losses

    def train_direction(self, d: str, real_x: torch.Tensor, real_y: torch.Tensor) -> dict[str, torch.Tensor]:
        """One reference iteration of the `d` model: forward, D step, then the joint G + heads step."""
        c, G, D = self.config, self.G[d], self.D[d]
        n = real_x.shape[0]
        real = torch.cat([real_x, real_y], 0) if c.nce_idt else real_x
        flipped = c.flip_equivariance and flip_coin()
        if flipped:
            real = torch.flip(real, [3])
        fake = G(real)
        fake_y = fake[:n]

        self.set_requires_grad([D], True)
        loss_d_fake = self.gan(D(fake_y.detach()), False)
        loss_d_real = self.gan(D(real_y), True)
        self.optimize(f"D_{d}", 0.5 * (loss_d_fake + loss_d_real))
        losses = {"D_real": loss_d_real, "D_fake": loss_d_fake}

        self.set_requires_grad([D], False)
        loss_g = fake.new_zeros((), dtype=torch.float32)
        if c.lambda_gan > 0:
            losses["G_GAN"] = self.gan(D(fake_y), True) * c.lambda_gan
            loss_g = loss_g + losses["G_GAN"]
        if c.lambda_nce > 0:
            losses["NCE"] = nce = self.nce_loss(d, real_x, fake_y, flipped)
            if c.nce_idt:
                losses["NCE_Y"] = self.nce_loss(d, real_y, fake[n:], flipped)
                nce = 0.5 * (nce + losses["NCE_Y"])
            loss_g = loss_g + nce
        self._step_together((f"G_{d}", f"F_{d}"), loss_g)
        self.set_requires_grad([D], True)
        return losses

    def nce_loss(self, d: str, source: torch.Tensor, translated: torch.Tensor, flipped: bool) -> torch.Tensor:
        """λ_NCE × the layer-mean PatchNCE loss between `source` and its translation (queries)."""
        c, G, heads = self.config, self.G[d], self.F[d]
        queries = G.encode(translated, c.nce_layers)
        if flipped:
            queries = [torch.flip(q, [3]) for q in queries]
        with torch.no_grad():
            keys = G.encode(source, c.nce_layers)
        ids = sample_patch_ids(keys, c.num_patches)
        with torch.no_grad():
            key_emb = heads(keys, ids)
        query_emb = heads(queries, ids)
        groups = 1 if c.nce_negatives_from_batch else source.shape[0]
        total = 0.0
        with torch.autocast(source.device.type, enabled=False):
            for q, k in zip(query_emb, key_emb):
                total = total + (patch_nce_loss(q.float(), k.float(), groups, c.nce_temperature)
                                 * c.lambda_nce).mean()
        return total / len(c.nce_layers)

    def _step_together(self, names: tuple[str, ...], loss: torch.Tensor) -> None:
        """One backward pass, then a step of each optimizer (the reference's G and F steps)."""
        opts = [self.optimizers[name] for name in names]
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in opts:
            opt.step()

    def translate(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        if direction not in self.G:
            raise ValueError(f"this {type(self).__name__} model was trained with directions="
                             f"{self.config.directions!r} and has no {direction} generator; train with "
                             f"directions=both (or {direction}) for that column")
        return self.G[direction](images)


@register_method("fastcut", description="FastCUT (Park et al. 2020): CUT without identity NCE, λ_NCE 10, "
                                        "flip-equivariance; one model per direction (unsupervised, not in the ASGIT paper)")
class FastCUT(CUT):
    config_class = FastCUTConfig
