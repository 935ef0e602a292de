"""`harness bench`: the harness's CycleGAN training step against the reference code's step.

The reference is a minimal, faithful re-implementation of `CycleGANModel.optimize_parameters`
of junyanz/pytorch-CycleGAN-and-pix2pix (`models/cycle_gan_model.py`): forward both
generators, freeze the discriminators, `backward_G` (identity, GAN and cycle losses), step G,
unfreeze, then `backward_D_A` and `backward_D_B` (two backward passes, each loss halved, image
pools) and step D. It runs on copies of the very networks the harness method builds (same
`harness.nets` classes, same weights, same sizes), in the same process and on the same device,
with the reference's plain fp32 eager execution and torch's default global settings (the
harness's own settings, e.g. deterministic algorithms on the CPU, are restored for its steps). The harness side is the real
`baselines.cyclegan.CycleGAN.training_step` called through the trainer's `train_step` with the
trainer's device setup (bf16 autocast and channels_last on CUDA; fp32 on the CPU) and the
trainer's per-step loss bookkeeping.

Data loading is excluded on both sides (the same host batches are fed to both), so the figure
is the cost of one optimisation step. Blocks of reference and harness steps alternate, and the
median block time is used, so that load from other processes affects both sides alike.
"""
from __future__ import annotations

import copy
import itertools
import random
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import torch
from torch import nn

from harness.registry import METHODS, SCHEDULES
from harness.training.device import DeviceSetup, setup_device
from harness.training.method import MethodContext
from harness.training.trainer import LossTracker, train_step


# ---- the reference step -------------------------------------------------------------------
class ReferenceImagePool:
    """The reference `util/image_pool.py`: python `random` decides, p = 0.5, once full."""

    def __init__(self, pool_size: int, seed: int):
        self.pool_size, self.images, self.rng = pool_size, [], random.Random(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.pool_size == 0:
            return images
        out = []
        for image in images:
            image = torch.unsqueeze(image.data, 0)
            if len(self.images) < self.pool_size:
                self.images.append(image)
                out.append(image)
            elif self.rng.uniform(0, 1) > 0.5:
                idx = self.rng.randint(0, self.pool_size - 1)
                tmp = self.images[idx].clone()
                self.images[idx] = image
                out.append(tmp)
            else:
                out.append(image)
        return torch.cat(out, 0)


class ReferenceLSGANLoss(nn.Module):
    """The reference `GANLoss('lsgan')`: MSE against label buffers expanded to the prediction."""

    def __init__(self):
        super().__init__()
        self.register_buffer("real_label", torch.tensor(1.0))
        self.register_buffer("fake_label", torch.tensor(0.0))
        self.loss = nn.MSELoss()

    def forward(self, prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        target = (self.real_label if target_is_real else self.fake_label).expand_as(prediction)
        return self.loss(prediction, target)


class ReferenceCycleGAN:
    """`CycleGANModel` reduced to `set_input` + `optimize_parameters` (netG_A: A→B, netD_A judges B)."""

    def __init__(self, G_AB: nn.Module, G_BA: nn.Module, D_A: nn.Module, D_B: nn.Module, device: torch.device,
                 lr: float, betas: tuple[float, float], lambda_cycle: float, lambda_identity: float,
                 pool_size: int, seed: int = 0):
        # The reference's netD_A discriminates domain B (fake_B), i.e. the harness's D_B.
        self.netG_A, self.netG_B = G_AB.to(device), G_BA.to(device)
        self.netD_A, self.netD_B = D_B.to(device), D_A.to(device)
        self.device = device
        self.lambda_A = self.lambda_B = lambda_cycle
        self.lambda_idt = lambda_identity
        self.criterionGAN = ReferenceLSGANLoss().to(device)
        self.criterionCycle, self.criterionIdt = nn.L1Loss(), nn.L1Loss()
        self.optimizer_G = torch.optim.Adam(itertools.chain(self.netG_A.parameters(), self.netG_B.parameters()),
                                            lr=lr, betas=betas)
        self.optimizer_D = torch.optim.Adam(itertools.chain(self.netD_A.parameters(), self.netD_B.parameters()),
                                            lr=lr, betas=betas)
        self.fake_A_pool, self.fake_B_pool = ReferenceImagePool(pool_size, seed), ReferenceImagePool(pool_size, seed + 1)

    def set_input(self, batch: dict[str, Any]) -> None:
        self.real_A = batch["A"].to(self.device)
        self.real_B = batch["B"].to(self.device)

    @staticmethod
    def set_requires_grad(nets: list[nn.Module], requires_grad: bool) -> None:
        for net in nets:
            for param in net.parameters():
                param.requires_grad = requires_grad

    def forward(self) -> None:
        self.fake_B = self.netG_A(self.real_A)
        self.rec_A = self.netG_B(self.fake_B)
        self.fake_A = self.netG_B(self.real_B)
        self.rec_B = self.netG_A(self.fake_A)

    def backward_D_basic(self, netD: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        loss_D = (self.criterionGAN(netD(real), True) + self.criterionGAN(netD(fake.detach()), False)) * 0.5
        loss_D.backward()
        return loss_D

    def backward_G(self) -> None:
        if self.lambda_idt > 0:
            self.idt_A = self.netG_A(self.real_B)
            self.loss_idt_A = self.criterionIdt(self.idt_A, self.real_B) * self.lambda_B * self.lambda_idt
            self.idt_B = self.netG_B(self.real_A)
            self.loss_idt_B = self.criterionIdt(self.idt_B, self.real_A) * self.lambda_A * self.lambda_idt
        else:
            self.loss_idt_A = self.loss_idt_B = 0
        self.loss_G_A = self.criterionGAN(self.netD_A(self.fake_B), True)
        self.loss_G_B = self.criterionGAN(self.netD_B(self.fake_A), True)
        self.loss_cycle_A = self.criterionCycle(self.rec_A, self.real_A) * self.lambda_A
        self.loss_cycle_B = self.criterionCycle(self.rec_B, self.real_B) * self.lambda_B
        self.loss_G = (self.loss_G_A + self.loss_G_B + self.loss_cycle_A + self.loss_cycle_B
                       + self.loss_idt_A + self.loss_idt_B)
        self.loss_G.backward()

    def optimize_parameters(self) -> None:
        self.forward()
        self.set_requires_grad([self.netD_A, self.netD_B], False)
        self.optimizer_G.zero_grad()
        self.backward_G()
        self.optimizer_G.step()
        self.set_requires_grad([self.netD_A, self.netD_B], True)
        self.optimizer_D.zero_grad()
        self.loss_D_A = self.backward_D_basic(self.netD_A, self.real_B, self.fake_B_pool.query(self.fake_B))
        self.loss_D_B = self.backward_D_basic(self.netD_B, self.real_A, self.fake_A_pool.query(self.fake_A))
        self.optimizer_D.step()


# ---- setting both up ----------------------------------------------------------------------
@dataclass(frozen=True)
class BenchConfig:
    image_size: int = 64
    batch_size: int = 1
    ngf: int = 64
    ndf: int = 64
    n_blocks: int = 9
    warmup: int = 2
    iters: int = 5
    rounds: int = 4
    lambda_identity: float = 0.5
    device: str = "auto"
    compile: bool = False
    seed: int = 0


def build_pair(cfg: BenchConfig) -> tuple[Any, ReferenceCycleGAN, DeviceSetup]:
    """The harness CycleGAN on the trainer's device setup, and the reference on copies of its nets."""
    torch.manual_seed(cfg.seed)
    device = setup_device(cfg.device, compile=cfg.compile)
    cls = METHODS.get("cyclegan")
    config = cls.config_class(ngf=cfg.ngf, ndf=cfg.ndf, n_blocks=cfg.n_blocks, lambda_identity=cfg.lambda_identity)
    context = MethodContext(cfg.image_size, 3, "unsupervised", SCHEDULES.get("paper"), ("A", "B"))
    method = cls(config, context)
    # Copies taken before the harness's device preparation: the reference runs plain fp32 eager nets.
    nets = [copy.deepcopy(n) for n in (method.G_AB, method.G_BA, method.D_A, method.D_B)]
    method = device.prepare_module(method)
    method.amp_dtype = device.amp_dtype
    method.optimizers = method.configure_optimizers()
    c = method.config
    reference = ReferenceCycleGAN(*nets, device.device, c.lr, (c.betas[0], c.betas[1]), c.lambda_cycle,
                                  c.lambda_identity, c.pool_size, cfg.seed)
    return method, reference, device


def make_batches(cfg: BenchConfig, n: int) -> list[dict[str, Any]]:
    gen = torch.Generator().manual_seed(cfg.seed)
    shape = (cfg.batch_size, 3, cfg.image_size, cfg.image_size)
    return [{"A": torch.rand(shape, generator=gen) * 2 - 1, "B": torch.rand(shape, generator=gen) * 2 - 1,
             "A_id": ["a"] * cfg.batch_size, "B_id": ["b"] * cfg.batch_size} for _ in range(n)]


def one_step_difference(cfg: BenchConfig) -> float:
    """Largest parameter difference between harness and reference after one step from equal weights."""
    method, reference, _ = build_pair(cfg)
    batch = make_batches(cfg, 1)[0]
    train_step(method, setup_device(cfg.device), batch)
    reference.set_input(batch)
    reference.optimize_parameters()
    pairs = [(method.G_AB, reference.netG_A), (method.G_BA, reference.netG_B),
             (method.D_B, reference.netD_A), (method.D_A, reference.netD_B)]
    return max(float((p.detach().float() - q.detach().float()).abs().max()) for a, b in pairs
               for p, q in zip(a.parameters(), b.parameters()))


# ---- timing ---------------------------------------------------------------------------------
def _timed_block(step: Callable[[dict], None], batches: list[dict], sync: Callable[[], None]) -> float:
    if not batches:
        return 0.0
    sync()
    start = time.perf_counter()
    for batch in batches:
        step(batch)
    sync()
    return (time.perf_counter() - start) / len(batches)


def _global_flags() -> tuple[bool, bool, bool]:
    return (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.utils.deterministic.fill_uninitialized_memory)


def _set_global_flags(flags: tuple[bool, bool, bool]) -> None:
    torch.use_deterministic_algorithms(flags[0], warn_only=flags[1])
    torch.utils.deterministic.fill_uninitialized_memory = flags[2]


def bench_training_step(cfg: BenchConfig) -> dict[str, Any]:
    """Seconds per step of both sides (median over alternating blocks), speedup and images/second."""
    method, reference, device = build_pair(cfg)
    tracker = LossTracker(device.device)

    def harness_step(batch: dict) -> None:
        tracker.add(train_step(method, device, batch))

    harness_flags = _global_flags()

    def reference_step(batch: dict) -> None:
        # The reference code runs with torch's defaults (no deterministic algorithms).
        torch.use_deterministic_algorithms(False)
        torch.utils.deterministic.fill_uninitialized_memory = True
        try:
            reference.set_input(batch)
            reference.optimize_parameters()
        finally:
            _set_global_flags(harness_flags)

    sync = torch.cuda.synchronize if device.is_cuda else (lambda: None)
    batches = make_batches(cfg, max(cfg.iters, cfg.warmup, 1))
    _timed_block(reference_step, batches[:cfg.warmup], sync)
    _timed_block(harness_step, batches[:cfg.warmup], sync)
    ref_times, harness_times = [], []
    for round_ in range(cfg.rounds):
        # ABBA order: neither side always runs first (warm caches, load that drifts within a round).
        order = [("ref", reference_step), ("harness", harness_step)]
        for name, step in (order if round_ % 2 == 0 else order[::-1]):
            (ref_times if name == "ref" else harness_times).append(_timed_block(step, batches[:cfg.iters], sync))
    # The speedup is the median of per-round ratios: the two blocks of a round ran under the same load.
    speedup = statistics.median(r / h for r, h in zip(ref_times, harness_times))
    ref_s, harness_s = statistics.median(ref_times), statistics.median(harness_times)
    record = device.record()
    return {"device": record.get("name", record["type"]), "device_setup": record, "config": cfg.__dict__,
            "reference_step_s": ref_s, "harness_step_s": harness_s, "speedup": speedup,
            "reference_images_per_s": cfg.batch_size / ref_s, "harness_images_per_s": cfg.batch_size / harness_s,
            "reference_block_s": ref_times, "harness_block_s": harness_times}


def bench_feature_extraction(n_images: int = 64, image_size: int = 64, extractor_name: str = "inception-v3-compat",
                             weights: Optional[str] = None, device: str = "auto") -> dict[str, Any]:
    """Features per second of an evaluation extractor, then the same set again through the feature
    cache (a hit). Returns {"status": "skipped", "reason": ...} when evaluation is not available."""
    try:
        from harness.evaluation.features import FeatureCache, build_extractor, features_for
        from harness.evaluation.images import ImageSet
    except ImportError as exc:
        return {"status": "skipped", "reason": f"the evaluation package is not available ({exc})"}
    import tempfile
    from pathlib import Path
    dev = setup_device(device).device
    try:
        extractor = build_extractor(extractor_name, weights, dev)
    except Exception as exc:  # weights missing: say so, never substitute other weights
        return {"status": "skipped", "reason": f"extractor {extractor_name!r} unavailable: {exc}"}
    gen = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (n_images, 3, image_size, image_size), dtype=torch.uint8, generator=gen)
    ids = [f"img{i:05d}" for i in range(n_images)]
    images = ImageSet("bench", ids, lambda i: pixels[ids.index(i)])
    extractor(ImageSet("warmup", ids[:2], images.load))
    with tempfile.TemporaryDirectory() as tmp:
        cache = FeatureCache(Path(tmp))
        start = time.perf_counter()
        features_for(images, extractor, cache)
        first = time.perf_counter() - start
        start = time.perf_counter()
        features_for(images, extractor, cache)
        second = time.perf_counter() - start
    return {"status": "ok", "extractor": extractor_name, "n_images": n_images, "image_size": image_size,
            "device": str(dev), "extract_s": first, "features_per_s": n_images / first,
            "cached_s": second, "cache_hit": cache.hits >= 1, "cache_hits": cache.hits,
            "cache_misses": cache.misses}
