"""`flat`: a reference row that paints every pixel the most common class (the demo's score floor).

On the generated demo task the background is about half of every image, so a method that learns
nothing but "background" scores well on per-pixel accuracy. `flat` is exactly that: label→render
outputs the background's noise-free colour at every pixel (the sky-to-ground gradient), render→label
outputs the background's label colour. It never competes; a method's score is worth something only
above both `flat` and `identity`. Defined only where the most common class's colours are known (the
demo task, `harness.data.demo`).
"""
from __future__ import annotations

import numpy as np
import torch

from harness.data import demo
from harness.reference_methods.identity import Identity
from harness.registry import register_method

BACKGROUND = 0  # the demo's most common class


def flat_image(direction: str, height: int, width: int) -> np.ndarray:
    """H×W×3 uint8: the most common class's noise-free render colour (…2B) or its label colour (…2A)."""
    if direction.endswith("B"):
        colours = demo.expected_colours(height, width)[BACKGROUND]
    else:
        colours = np.broadcast_to(demo.LABEL_COLOURS[BACKGROUND].astype(np.float32), (height, width, 3))
    return np.clip(np.rint(colours), 0, 255).astype(np.uint8)


@register_method("flat", description="reference row (demo task): every pixel the most common class's colour "
                                     "(background gradient, or its label colour), no training")
class Flat(Identity):
    """Trains nothing, like `identity` (whose no-op training it shares); only the translation differs."""
    tasks = ("demo",)  # only there are the classes' colours known (pipeline.methods_for_task reads this)

    def translate(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        n, _, height, width = images.shape
        flat = torch.from_numpy(flat_image(direction, height, width)).permute(2, 0, 1).to(images)
        return (flat / 127.5 - 1.0).expand(n, -1, -1, -1).clone()  # the [-1, 1] range of every translation
