"""Attention diagnostics: does the feedback carry spatial information, and does G use it?

Recorded in every ASGIT result (`result.json` → "diagnostics") and drawn in its sample grids:
- map spread: the mean spatial standard deviation of a map (0 = flat, no guidance). Reported for the
  maps the memory stored during training (as written, in the crop's frame), for the maps it holds
  at the end (in its own frame), and for the maps G gets at test;
- read-hit share: the share of memory reads during training that found an earlier write for that
  image (the rest read the initial all-ones map);
- attention influence: mean |G(x ⊕ M) − G(x ⊕ 1)| over all test images of each direction, with M
  the kind of map G got in training (`feedback_map`: memory variants run Eq. 1 once from the initial
  all-ones map, online variants take the live map) and 1 the all-ones placeholder, in [-1, 1] image units and in /255 units.
  Zero means the generator ignores the map.
"""
from __future__ import annotations

from typing import Any, Iterable

import torch

from harness.data.datasets import to_uint8

_SEED = 0  # same random state (dropout) for both passes of a pair, so only the map differs


def _spread(maps: torch.Tensor) -> torch.Tensor:
    """Per-map spatial standard deviation of (B, 1, h, w) maps."""
    return maps.float().flatten(1).std(1, unbiased=False)


@torch.no_grad()
def attention_influence(method: Any, batches: Iterable[torch.Tensor], direction: str) -> dict[str, Any]:
    total = total_u8 = 0.0
    pixels = 0
    spreads: list[torch.Tensor] = []
    device = next(method.parameters()).device
    for images in batches:
        images = images.to(device)
        torch.manual_seed(_SEED)
        attention = method.feedback_map(images, direction)
        torch.manual_seed(_SEED)
        guided = method.guided_output(images, attention, direction)
        torch.manual_seed(_SEED)
        plain = method.guided_output(images, method.constant_map(images), direction)
        total += float((guided.float() - plain.float()).abs().sum())
        total_u8 += float((to_uint8(guided).float() - to_uint8(plain).float()).abs().sum())
        pixels += guided.numel()
        spreads.append(_spread(attention).cpu())
    if not pixels:
        return {"n_images": 0}
    spread = torch.cat(spreads)
    return {"n_images": int(spread.numel()), "influence": total / pixels, "influence_255": total_u8 / pixels,
            "test_map_spread": float(spread.mean())}


def stored_map_spread(memory: Any) -> float | None:
    maps = [m for slot in memory.maps.values() for m in slot.values()]
    if not maps:
        return None
    return float(torch.stack([m.float().std(unbiased=False) for m in maps]).mean())


def attention_diagnostics(method: Any, batches: dict[str, Iterable[torch.Tensor]]) -> dict[str, Any]:
    """The diagnostics block of a result; `batches` maps each direction to its test images in [-1, 1]."""
    c = method.config
    was_training = method.training
    method.train(c.inference_mode == "train")  # the test path's mode, as in translation
    try:
        per_direction = {d: attention_influence(method, batches[d], d) for d in method.directions}
    finally:
        method.train(was_training)
    memory = getattr(method, "memory", None)
    out: dict[str, Any] = {
        "definition": "influence = mean |G(x ⊕ M) − G(x ⊕ 1)| over test images (M: D's map of G's output "
                      "for x ⊕ 1 (memory) or the live map of x (online), 1: all-ones placeholder), in [-1,1] units and in /255 units after uint8 rounding; "
                      "spread = mean spatial std of a map; read_hit_share = memory reads that found an earlier write",
        "test_placeholder": c.test_placeholder, "transfer_block": c.transfer_block, "attn_norm": c.attn_norm,
        "memory_frame": c.memory_frame if memory is not None else None,
        "directions": per_direction,
    }
    measured = [v for v in per_direction.values() if v.get("n_images")]
    if measured:
        out["influence_255"] = sum(v["influence_255"] for v in measured) / len(measured)
        out["test_map_spread"] = sum(v["test_map_spread"] for v in measured) / len(measured)
    if memory is not None:
        summary = memory.summary()
        out.update({"read_hit_share": summary["read_hit_share"], "written_map_spread": summary["written_map_spread"],
                    "stored_map_spread": stored_map_spread(memory), "memory_reads": summary["reads"],
                    "stored_maps": summary["stored_maps"]})
    else:
        out.update({"read_hit_share": None, "written_map_spread": None, "stored_map_spread": None,
                    "memory": "none (attn_source=online: live maps)"})
    return out
