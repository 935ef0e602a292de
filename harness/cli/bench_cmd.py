"""`harness bench [train|eval]`: time the training step against the reference code, or evaluation.

The full GPU check (CUDA tests, speed options, concurrent runs) is `python -m harness.gpu_check`."""
from __future__ import annotations

import argparse
import json

from harness.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="time the CycleGAN step against the reference implementation, or evaluation")
    p.add_argument("mode", nargs="?", default="train", choices=["train", "eval"],
                   help="train: harness vs reference training step (default); eval: feature extraction")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="where to measure (default: auto = cuda if any)")
    p.add_argument("--image-size", type=int, default=None, help="default: 64 on the CPU, 256 on CUDA")
    p.add_argument("--batch-size", type=int, default=1, help="images per step (default: 1, the paper's)")
    p.add_argument("--ngf", type=int, default=64, help="generator width (default: 64, the paper's)")
    p.add_argument("--ndf", type=int, default=64, help="discriminator width (default: 64, the paper's)")
    p.add_argument("--n-blocks", type=int, default=9, help="ResNet blocks in the generator (default: 9)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per side first")
    p.add_argument("--iters", type=int, default=5, help="steps per timed block")
    p.add_argument("--rounds", type=int, default=4, help="alternating reference/harness blocks")
    p.add_argument("--compile", action="store_true", help="torch.compile the harness networks")
    p.add_argument("--compile-mode", default="default",
                   help="with --compile: default, reduce-overhead (replays CUDA graphs: fewer launches at batch 1), "
                        "max-autotune or max-autotune-no-cudagraphs")
    p.add_argument("--fused-adam", action="store_true", help="CUDA: fused Adam kernels for the harness step")
    p.add_argument("--fp32", action="store_true", help="CUDA: no bf16 autocast for the harness step")
    p.add_argument("--memory-format", default="auto", choices=["auto", "channels_last", "contiguous"],
                   help="the harness step's layout (auto: channels_last on CUDA, the standard one on the CPU)")
    p.add_argument("--check", action="store_true",
                   help="also train one step on both from equal weights and print the largest weight difference")
    p.add_argument("--n-images", type=int, default=64, help="eval mode: images to extract features of")
    p.add_argument("--extractor", default="inception-v3-compat", help="eval mode: registered feature extractor")
    p.add_argument("--weights", default=None, help="eval mode: extractor weights file")
    p.add_argument("--json", action="store_true", help="print the full record as JSON")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    import torch

    from harness.bench import BenchConfig, bench_feature_extraction, bench_training_step, one_step_difference
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    size = args.image_size or (256 if cuda else 64)
    if min(size, args.batch_size, args.iters, args.rounds) < 1 or args.warmup < 0:
        raise UsageError("--image-size, --batch-size, --iters and --rounds must be positive, --warmup >= 0")
    if args.mode == "eval":
        rec = bench_feature_extraction(args.n_images, size, args.extractor, args.weights, args.device)
        if args.json:
            print(json.dumps(rec, indent=2))
        elif rec["status"] != "ok":
            print(f"evaluation benchmark skipped: {rec['reason']}")
        else:
            print(f"extractor: {rec['extractor']} on {rec['device']}, {rec['n_images']} images of {size} px")
            print(f"features/s: {rec['features_per_s']:.1f}")
            print(f"cache hit: {'yes' if rec['cache_hit'] else 'no'} (second pass {rec['cached_s']:.3f} s)")
        return 0
    cfg = BenchConfig(size, args.batch_size, args.ngf, args.ndf, args.n_blocks, args.warmup, args.iters,
                      args.rounds, device=args.device, compile=args.compile, compile_mode=args.compile_mode,
                      fused_adam=args.fused_adam, amp=not args.fp32, memory_format=args.memory_format)
    rec = bench_training_step(cfg)
    if args.check:
        rec["one_step_max_weight_difference"] = one_step_difference(cfg)
    if args.json:
        print(json.dumps(rec, indent=2, default=str))
        return 0
    options = [o for o, on in (("compile " + cfg.compile_mode, cfg.compile), ("fused Adam", cfg.fused_adam),
                               ("fp32", args.fp32), (args.memory_format, args.memory_format != "auto")) if on]
    print(f"device: {rec['device']} ({rec['device_setup']['torch_threads']} threads), CycleGAN ngf={cfg.ngf} "
          f"n_blocks={cfg.n_blocks}, {size} px, batch {cfg.batch_size}"
          + (f"; harness options: {', '.join(options)}" if options else ""))
    print(f"reference step: {rec['reference_step_s'] * 1000:.1f} ms ({rec['reference_images_per_s']:.2f} images/s)")
    print(f"harness step:   {rec['harness_step_s'] * 1000:.1f} ms ({rec['harness_images_per_s']:.2f} images/s)")
    if "one_step_max_weight_difference" in rec:
        print(f"one step from equal weights, largest weight difference: {rec['one_step_max_weight_difference']:.3g}")
    print(f"speedup: {rec['speedup']:.3f}")
    if "speedup_cpu_time" in rec:
        print(f"speedup in process CPU time (1 thread; robust to other load): {rec['speedup_cpu_time']:.3f} "
              f"(reference {rec['reference_cpu_s'] * 1000:.1f} ms, harness {rec['harness_cpu_s'] * 1000:.1f} ms)")
    return 0
