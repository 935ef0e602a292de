"""The CycleGAN history buffer of generated images, with its own seeded random stream.

Until full it returns the current fakes; afterwards, with p = 0.5 per image, it returns a stored
fake and keeps the current one in its place. Its contents and random state go into checkpoints,
so a resumed run draws exactly what an uninterrupted one would.
"""
from __future__ import annotations

from typing import Any

import torch


class ImagePool:
    def __init__(self, size: int, seed: int = 0):
        self.size = size
        self.images: list[torch.Tensor] = []
        self.generator = torch.Generator().manual_seed(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand((), generator=self.generator).item() > 0.5:
                idx = int(torch.randint(0, self.size, (), generator=self.generator).item())
                out.append(self.images[idx].to(image.device).clone())
                self.images[idx] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> dict[str, Any]:
        return {"images": [t.cpu() for t in self.images], "rng": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any], device: torch.device | None = None) -> None:
        self.images = [t.to(device) if device is not None else t for t in state["images"]]
        self.generator.set_state(state["rng"])
