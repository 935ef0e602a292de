"""Attention diagnostics: does the feedback carry spatial information, and does G use it?

Recorded in every ASGIT result (`result.json` → "diagnostics") over all test images of each
direction, at test-time settings (the translation's train/eval mode and autocast). M_x is the kind of
map G got in training for image x (`feedback_map`: memory variants run Eq. 1 once from the
memory's initial map, online variants take the live map). Three probes, each a mean absolute output
difference in [-1, 1] units and in grey levels (/255, after the uint8 rounding of translations):
- influence: |G(x ⊕ M_x) − G(x ⊕ 1)|, own map against the all-ones placeholder;
- specificity: |G(x ⊕ M_x) − G(x ⊕ M_y)|, own map against the map of another test image y (fixed
  pairing: image i with image i + n/2 of the sorted test list);
- random-map response: |G(x ⊕ M_x) − G(x ⊕ M̃_x)|, M̃_x the same values spatially shuffled.
The same probes run on a control generator that never saw a map (`controls.py`), fed the same
inputs x ⊕ M: a generator moves under any input perturbation, so only ASGIT's figures *above the
control's* speak for learned guidance. Map-structure figures (`map_structure.py`) show a learned
border frame or one fixed pattern, which neither spread nor influence detects. Spread = mean
spatial std of a map; read-hit share = memory reads in training that found an earlier write.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import torch

from methods.asgit.controls import control_generators
from methods.asgit.map_structure import structure

_SEED = 0  # same random state (dropout) for every pass of a probe, so only the map differs
PROBES = ("influence", "specificity", "random_map")
DEFINITION = ("over all test images at test-time settings, M_x = the feedback map of x (D's map of G's output for x "
              "⊕ initial map (memory) or the live map of x (online)); influence = mean |G(x⊕M_x) − G(x⊕1)|, "
              "specificity = mean |G(x⊕M_x) − G(x⊕M_y)| (y = test image i + n/2), random_map = mean "
              "|G(x⊕M_x) − G(x⊕shuffle(M_x))|, in [-1,1] units and /255 after uint8 rounding; control_* = the same "
              "probes on a generator that never saw a map; map structure: see border_px, framed_share (border/"
              "interior ratio > 1.5), pairwise_correlation, train_mode_correlation")


def partner_maps(maps: torch.Tensor) -> Optional[torch.Tensor]:
    """Each map's partner: the map of image i + n/2 (a fixed pairing of different images)."""
    n = maps.shape[0]
    return None if n < 2 else maps.roll(-(n // 2), 0)


def shuffled_maps(maps: torch.Tensor, seed: int = _SEED) -> torch.Tensor:
    """Each map with its cells in a random order: the same values, no spatial layout."""
    generator = torch.Generator().manual_seed(seed)
    flat = maps.flatten(1)
    order = torch.stack([torch.randperm(flat.shape[1], generator=generator) for _ in range(flat.shape[0])])
    return flat.gather(1, order).view_as(maps)


@torch.no_grad()
def _probe(generate: Callable, images: torch.Tensor, maps: dict[str, Optional[torch.Tensor]],
           quantise: Callable) -> dict[str, tuple[float, float]]:
    """Sums of |base − other| (units, /255) for each probe of one batch; base = G(x ⊕ own map)."""
    def run(m: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(_SEED)
        return generate(images, m.to(images.device)).float()
    base = run(maps["own"])
    base_u8 = quantise(base).float()
    sums = {}
    for probe, key in (("influence", "ones"), ("specificity", "partner"), ("random_map", "shuffled")):
        if maps[key] is None:
            continue
        other = run(maps[key])
        sums[probe] = (float((base - other).abs().sum()), float((base_u8 - quantise(other).float()).abs().sum()))
    return sums


def _means(sums: dict[str, list[float]], pixels: int, prefix: str = "") -> dict[str, float]:
    out = {}
    for probe in PROBES:
        if probe in sums:
            out[f"{prefix}{probe}"] = sums[probe][0] / pixels
            out[f"{prefix}{probe}_255"] = sums[probe][1] / pixels
    return out


@torch.no_grad()
def _train_mode_maps(method: Any, images: torch.Tensor, direction: str) -> torch.Tensor:
    """The feedback maps in training mode (batch statistics, one image per batch as in training);
    running statistics are restored afterwards, so the probe changes nothing."""
    saved = {k: v.clone() for k, v in method.state_dict().items() if not k.endswith("num_batches_tracked")}
    was_training = method.training
    method.train(True)
    try:
        torch.manual_seed(_SEED)
        with method.autocast():  # as in training
            return torch.cat([method.feedback_map(images[i:i + 1], direction).float().cpu()
                              for i in range(len(images))])
    finally:
        method.load_state_dict(saved, strict=False)
        method.train(was_training)


def direction_diagnostics(method: Any, batches: Iterable[torch.Tensor], direction: str, control: torch.nn.Module,
                          quantise: Callable) -> dict[str, Any]:
    device = next(method.parameters()).device
    images = [b.to(device) for b in batches]
    if not images:
        return {"n_images": 0}
    with method.autocast():
        torch.manual_seed(_SEED)
        maps = torch.cat([method.feedback_map(x, direction).float().cpu() for x in images])
    partners, shuffled = partner_maps(maps), shuffled_maps(maps)
    sums: dict[str, list[float]] = {}
    control_sums: dict[str, list[float]] = {}
    pixels = start = 0
    for x in images:
        n = x.shape[0]
        own = maps[start:start + n]
        chosen = {"own": own, "ones": torch.ones_like(own), "shuffled": shuffled[start:start + n],
                  "partner": None if partners is None else partners[start:start + n]}
        start += n
        with method.autocast():
            for target, generate in ((sums, method.guided_output_fn(direction)),
                                     (control_sums, method.guided_output_fn(direction, control))):
                for probe, (units, grey) in _probe(generate, x, chosen, quantise).items():
                    total = target.setdefault(probe, [0.0, 0.0])
                    total[0] += units
                    total[1] += grey
        pixels += x.shape[0] * method.context.channels * x.shape[-2] * x.shape[-1]
    out: dict[str, Any] = {"n_images": int(maps.shape[0]), **_means(sums, pixels), **_means(control_sums, pixels, "control_")}
    train_maps = _train_mode_maps(method, torch.cat(images), direction)
    out.update(structure(maps, images[0].shape[-1], train_maps))
    return out


def stored_map_spread(memory: Any) -> float | None:
    maps = [m for slot in memory.maps.values() for m in slot.values()]
    if not maps:
        return None
    return float(torch.stack([m.float().std(unbiased=False) for m in maps]).mean())


SUMMARY_KEYS = ("influence_255", "specificity_255", "random_map_255", "control_influence_255",
                "control_specificity_255", "control_random_map_255", "test_map_spread", "border_interior_ratio",
                "framed_share", "pairwise_correlation", "train_mode_correlation")


def attention_diagnostics(method: Any, batches: dict[str, Iterable[torch.Tensor]], quantise: Callable,
                          run_dir: Optional[Path] = None) -> dict[str, Any]:
    """The diagnostics block of a result; `batches` maps each direction to its test images in [-1, 1],
    `quantise` is the translations' uint8 rounding, `run_dir` the run's folder (to find a control)."""
    c = method.config
    controls, control_record = control_generators(method, run_dir)
    was_training = method.training
    test_mode = c.inference_mode == "train"  # the test path's mode, as in translation
    method.train(test_mode)
    for g in controls.values():
        g.train(test_mode)
    try:
        per_direction = {d: direction_diagnostics(method, batches[d], d, controls[d], quantise)
                         for d in method.directions}
    finally:
        method.train(was_training)
    memory = getattr(method, "memory", None)
    out: dict[str, Any] = {
        "definition": DEFINITION, "control": control_record,
        "test_placeholder": c.test_placeholder, "transfer_block": c.transfer_block, "attn_norm": c.attn_norm,
        "attn_source": getattr(c, "attn_source", "memory"),
        "memory_frame": c.memory_frame if memory is not None else None,
        "directions": per_direction,
    }
    measured = [v for v in per_direction.values() if v.get("n_images")]
    for key in SUMMARY_KEYS:  # the mean over directions, where every direction has the figure
        values = [v.get(key) for v in measured]
        out[key] = sum(values) / len(values) if values and all(v is not None for v in values) else None
    if memory is not None:
        summary = memory.summary()
        out.update({"read_hit_share": summary["read_hit_share"], "written_map_spread": summary["written_map_spread"],
                    "stored_map_spread": stored_map_spread(memory), "memory_reads": summary["reads"],
                    "stored_maps": summary["stored_maps"]})
    else:
        out.update({"read_hit_share": None, "written_map_spread": None, "stored_map_spread": None,
                    "memory": "none (attn_source=online: live maps)"})
    return out
