"""The control generator of the attention probes: one that never saw a map.

A generator that never learned from maps still changes its output when its input is multiplied
by (1 + M): that is input perturbation, not guidance. The probes (`diagnostics.py`) therefore run
the same maps through a control, so ASGIT's figures can be read against it:
- the CycleGAN generator trained under the same schedule, seed and generator shape, when a
  finished `cyclegan` run with its checkpoint sits beside this run (`<out>/<task>/cyclegan/...`);
  one with the same identity weight is preferred (ASGIT's is 0);
- otherwise an untrained generator of ASGIT's own shape (the Alpha variants always: CycleGAN's
  generator has no fourth input channel), named as such in the result.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from harness.nets import ResnetGenerator
from harness.training.checkpoint import read_checkpoint

_SEED = 0
SHAPE_FIELDS = ("ngf", "n_blocks", "norm")


def _read_json(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def find_cyclegan_run(run_dir: Path, config: Any) -> Optional[Path]:
    """A finished CycleGAN run beside `run_dir` with the same schedule, seed and generator shape."""
    spec = (_read_json(run_dir / "run.json") or {}).get("spec", {})
    family = run_dir.parent.parent / "cyclegan"
    if not spec or not family.is_dir():
        return None
    matches = []
    for candidate in sorted(family.iterdir()):
        result = _read_json(candidate / "result.json")
        if not result or result.get("schedule") != spec.get("schedule") or result.get("seed") != spec.get("seed"):
            continue
        theirs = result.get("config", {}).get("method", {})
        if any(theirs.get(f) != getattr(config, f, None) for f in SHAPE_FIELDS):
            continue
        checkpoint = result.get("run", {}).get("checkpoint")
        if not checkpoint or not (candidate / checkpoint).is_file():
            continue
        same_identity = theirs.get("lambda_identity") == getattr(config, "lambda_identity", None)
        matches.append((not same_identity, candidate.name, candidate / checkpoint))
    return min(matches)[2] if matches else None


def trained_cyclegan(checkpoint: Path, config: Any, channels: int) -> dict[str, nn.Module]:
    """CycleGAN's two generators from a checkpoint (read with weights_only: data, never code)."""
    model = read_checkpoint(checkpoint)["model"]
    generators = {}
    for direction, name in (("A2B", "G_AB"), ("B2A", "G_BA")):
        net = ResnetGenerator(channels, channels, config.ngf, config.n_blocks, config.norm)
        net.load_state_dict({k[len(name) + 1:]: v for k, v in model.items() if k.startswith(name + ".")})
        generators[direction] = net
    return generators


def control_generators(method: Any, run_dir: Optional[Path]) -> tuple[dict[str, nn.Module], dict[str, Any]]:
    """The control generators per direction and a record of what they are."""
    config = method.config
    channels = method.context.channels
    device = next(method.parameters()).device
    checkpoint = None
    if run_dir is not None and getattr(config, "injection", None) == "rhp" and hasattr(method, "G_AB"):
        checkpoint = find_cyclegan_run(Path(run_dir), config)
    if checkpoint is not None:
        generators = trained_cyclegan(checkpoint, config, channels)
        record = {"kind": "trained cyclegan", "run": checkpoint.parent.parent.name,
                  "description": "the CycleGAN generator trained under the same schedule, seed and shape"}
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_SEED)
            generators = {d: method.untrained_generator() for d in method.directions}
        why = ("CycleGAN's generator has no fourth input channel" if getattr(config, "injection", None) == "alpha"
               else "no finished cyclegan run with a checkpoint, same schedule, seed and generator shape beside "
                    "this run; train one into the same results folder, then `harness evaluate RUN_DIR --diagnostics`")
        record = {"kind": "untrained generator", "run": None,
                  "description": f"an untrained generator of the same shape (seed {_SEED}): {why}"}
    return {d: g.to(device) for d, g in generators.items()}, record
