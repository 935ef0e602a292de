"""The attention memory: one map per training image, used the next time that image comes round.

Eq. 1 feeds G, for input x_i, the discriminator's map of G's previous output for the same x_i.
The reference code keeps those maps in a tensor indexed by dataset position (capacity 3000, on the
GPU, not checkpointed). Here the key is (domain side, image id), the size follows the data set,
maps are stored on the 1/8 grid (the transfer block upsamples), and the whole memory goes into
checkpoints through the method's `extra_state`, so a resumed run reads the maps an uninterrupted
run would have read.
"""
from __future__ import annotations

import hashlib
from typing import Any, Sequence

import torch


class AttentionMemory:
    """Maps keyed by (side, image id); unseen images read the initial map (`ones` or `uniform`)."""

    def __init__(self, size: int, init: str = "ones"):
        if init not in ("ones", "uniform"):
            raise ValueError(f"unknown memory_init {init!r}; use ones or uniform")
        self.size = size
        self.init = init
        self.maps: dict[str, dict[str, torch.Tensor]] = {}

    def __len__(self) -> int:
        return sum(len(v) for v in self.maps.values())

    def _initial(self, side: str, image_id: str) -> torch.Tensor:
        if self.init == "ones":
            return torch.ones(1, self.size, self.size)
        # Uniform noise seeded by the key: the same image always starts from the same map.
        seed = int.from_bytes(hashlib.sha256(f"{side}/{image_id}".encode()).digest()[:8], "little") >> 1
        return torch.rand(1, self.size, self.size, generator=torch.Generator().manual_seed(seed))

    def read(self, side: str, ids: Sequence[str], device: torch.device | str = "cpu") -> torch.Tensor:
        """(len(ids), 1, size, size) maps for the images `ids` of domain side `side`."""
        stored = self.maps.get(side, {})
        maps = [stored[i] if i in stored else self._initial(side, i) for i in ids]
        return torch.stack([m.to(device) for m in maps])

    def write(self, side: str, ids: Sequence[str], maps: torch.Tensor) -> None:
        """Store the detached (B, 1, size, size) `maps` for the images `ids` (last write wins)."""
        if maps.shape[1:] != (1, self.size, self.size):
            raise ValueError(f"attention memory holds (1, {self.size}, {self.size}) maps, got {tuple(maps.shape[1:])}")
        slot = self.maps.setdefault(side, {})
        for image_id, m in zip(ids, maps.detach().float()):
            slot[image_id] = m.clone()

    def state_dict(self) -> dict[str, Any]:
        return {"size": self.size, "init": self.init,
                "maps": {side: {k: v.cpu() for k, v in slot.items()} for side, slot in self.maps.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["size"] != self.size or state["init"] != self.init:
            raise ValueError(f"checkpointed attention memory ({state['size']} px, init {state['init']}) does not "
                             f"match this run's ({self.size} px, init {self.init})")
        self.maps = {side: dict(slot) for side, slot in state["maps"].items()}
