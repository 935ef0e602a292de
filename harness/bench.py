"""`harness bench`: the harness's CycleGAN training step against the reference code's step.

The reference (`harness.bench_reference`) is a minimal, faithful re-implementation of
`CycleGANModel.optimize_parameters` of junyanz/pytorch-CycleGAN-and-pix2pix: forward both
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
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import torch

from harness.bench_reference import ReferenceCycleGAN
from harness.training.device import DeviceSetup, setup_device
from harness.training.method import MethodContext
from harness.training.step import LossTracker, train_step

# The paper's optimiser (also the reference code's defaults), given explicitly so that the bench
# needs no schedule file (the GPU check runs where PyYAML is not installed).
PAPER_OPTIMISER = {"gan_loss": "lsgan", "lr": 2e-4, "betas": (0.5, 0.999)}


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
    # GPU speed options under measurement (see `harness.training.device.DeviceSetup`).
    compile_mode: str = "default"
    fused_adam: bool = False
    amp: bool = True  # bf16 autocast on CUDA (the trainer's default); False: fp32
    memory_format: str = "auto"  # auto (channels_last on CUDA) | channels_last | contiguous


def build_harness(cfg: BenchConfig) -> tuple[Any, DeviceSetup]:
    """The harness CycleGAN (the real method class) prepared as the pipeline prepares it."""
    from baselines.cyclegan import CycleGAN  # directly, not through the registry's discovery of every method
    torch.manual_seed(cfg.seed)
    device = setup_device(cfg.device, amp=cfg.amp, compile=cfg.compile, compile_mode=cfg.compile_mode,
                          fused_adam=cfg.fused_adam, memory_format=cfg.memory_format)
    config = CycleGAN.config_class(ngf=cfg.ngf, ndf=cfg.ndf, n_blocks=cfg.n_blocks,
                                   lambda_identity=cfg.lambda_identity, **PAPER_OPTIMISER)
    # The step reads no schedule field once the optimiser is given (resolve_config).
    context = MethodContext(cfg.image_size, 3, "unsupervised", _paper_schedule(), ("A", "B"))
    return CycleGAN(config, context), device


def _paper_schedule() -> Any:
    try:
        from harness.registry import SCHEDULES
        return SCHEDULES.get("paper")
    except Exception:  # no PyYAML (a bare GPU machine): the optimiser above is all the step uses
        return None


def prepare(method: Any, device: DeviceSetup) -> Any:
    return device.prepare_method(method)


def build_pair(cfg: BenchConfig) -> tuple[Any, ReferenceCycleGAN, DeviceSetup]:
    """The harness CycleGAN on the trainer's device setup, and the reference on copies of its nets."""
    method, device = build_harness(cfg)
    # Copies taken before the harness's device preparation: the reference runs plain fp32 eager nets.
    nets = [copy.deepcopy(n) for n in (method.G_AB, method.G_BA, method.D_A, method.D_B)]
    method = prepare(method, device)
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
    method, reference, device = build_pair(cfg)
    batch = make_batches(cfg, 1)[0]
    train_step(method, device, batch)
    reference.set_input(batch)
    reference.optimize_parameters()
    pairs = [(method.G_AB, reference.netG_A), (method.G_BA, reference.netG_B),
             (method.D_B, reference.netD_A), (method.D_A, reference.netD_B)]
    return max(float((p.detach().float() - q.detach().float()).abs().max()) for a, b in pairs
               for p, q in zip(a.parameters(), b.parameters()))


# ---- timing ---------------------------------------------------------------------------------
def _timed_block(step: Callable[[dict], None], batches: list[dict], sync: Callable[[], None]) -> tuple[float, float]:
    """Wall-clock and process CPU seconds per step over `batches`."""
    if not batches:
        return 0.0, 0.0
    sync()
    start, start_cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        step(batch)
    sync()
    return (time.perf_counter() - start) / len(batches), (time.process_time() - start_cpu) / len(batches)


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
    blocks: dict[str, list[tuple[float, float]]] = {"ref": [], "harness": []}
    for round_ in range(cfg.rounds):
        # ABBA order: neither side always runs first (warm caches, load that drifts within a round).
        order = [("ref", reference_step), ("harness", harness_step)]
        for name, step in (order if round_ % 2 == 0 else order[::-1]):
            blocks[name].append(_timed_block(step, batches[:cfg.iters], sync))
    ref_times, harness_times = [w for w, _ in blocks["ref"]], [w for w, _ in blocks["harness"]]
    # The speedup is the median of per-round ratios: the two blocks of a round ran under the same load.
    speedup = statistics.median(r / h for r, h in zip(ref_times, harness_times))
    ref_s, harness_s = statistics.median(ref_times), statistics.median(harness_times)
    record = device.record()
    rec = {"device": record.get("name", record["type"]), "device_setup": record, "config": cfg.__dict__,
           "reference_step_s": ref_s, "harness_step_s": harness_s, "speedup": speedup,
           "reference_images_per_s": cfg.batch_size / ref_s, "harness_images_per_s": cfg.batch_size / harness_s,
           "reference_block_s": ref_times, "harness_block_s": harness_times,
           "harness_losses_finite": not bool(tracker.bad)}
    if not device.is_cuda and torch.get_num_threads() == 1:
        # One thread on a shared CPU: the process's CPU time barely depends on what else runs,
        # while wall time does (a preempted block looks slow). Both are recorded.
        ref_cpu, harness_cpu = [c for _, c in blocks["ref"]], [c for _, c in blocks["harness"]]
        rec.update(reference_cpu_s=statistics.median(ref_cpu), harness_cpu_s=statistics.median(harness_cpu),
                   speedup_cpu_time=statistics.median(r / h for r, h in zip(ref_cpu, harness_cpu)),
                   reference_block_cpu_s=ref_cpu, harness_block_cpu_s=harness_cpu)
    return rec


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


# ---- memory format per network family ----------------------------------------------------------
def _family_net(family: str, ngf: int, n_blocks: int, image_size: int) -> torch.nn.Module:
    from harness.nets.patchgan import PatchDiscriminator
    from harness.nets.resnet import ResnetGenerator
    from harness.nets.unet import UnetGenerator
    if family == "resnet_generator":  # CycleGAN, ASGIT, CUT-like generators (InstanceNorm)
        return ResnetGenerator(ngf=ngf, n_blocks=n_blocks)
    if family == "unet_generator":  # pix2pix and its ablations (BatchNorm)
        return UnetGenerator(ngf=ngf, depth=min(8, image_size.bit_length() - 1))  # 8 levels at 256 px
    if family == "patchgan_discriminator":
        return PatchDiscriminator(ndf=ngf)
    raise ValueError(f"unknown network family {family!r}")


NETWORK_FAMILIES = ("resnet_generator", "unet_generator", "patchgan_discriminator")


def bench_memory_format(family: str, image_size: int = 256, ngf: int = 64, n_blocks: int = 9, device: str = "auto",
                        iters: int = 10, rounds: int = 3) -> dict[str, Any]:
    """Forward + backward seconds of one network family, channels_last against the standard layout,
    under the trainer's autocast (bf16 on CUDA): InstanceNorm converts back to the standard layout
    at every layer, so which layout wins depends on the family. Median of alternating blocks."""
    setup = setup_device(device)
    dev = setup.device
    torch.manual_seed(0)
    nets = {fmt: _family_net(family, ngf, n_blocks, image_size).to(dev) for fmt in ("channels_last", "contiguous")}
    nets["channels_last"] = nets["channels_last"].to(memory_format=torch.channels_last)
    x = torch.rand(1, 3, image_size, image_size, device=dev) * 2 - 1
    inputs = {"channels_last": x.contiguous(memory_format=torch.channels_last), "contiguous": x.contiguous()}
    sync = torch.cuda.synchronize if setup.is_cuda else (lambda: None)

    def block(fmt: str, n: int) -> float:
        sync()
        start = time.perf_counter()
        for _ in range(n):
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=setup.is_cuda):
                out = nets[fmt](inputs[fmt])
            out.float().mean().backward()
        sync()
        return (time.perf_counter() - start) / max(n, 1)

    for fmt in nets:
        block(fmt, 1)  # warm-up (cuDNN autotuning picks its kernels here)
    times: dict[str, list[float]] = {fmt: [] for fmt in nets}
    for r in range(rounds):
        for fmt in (("channels_last", "contiguous") if r % 2 == 0 else ("contiguous", "channels_last")):
            times[fmt].append(block(fmt, iters))
    cl, ct = statistics.median(times["channels_last"]), statistics.median(times["contiguous"])
    return {"family": family, "image_size": image_size, "device": str(dev), "channels_last_s": cl,
            "contiguous_s": ct, "channels_last_speedup": ct / cl, "faster": "channels_last" if cl < ct else "contiguous"}
