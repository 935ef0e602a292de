"""The attention memory: one map per training image, used the next time that image comes round.

Eq. 1 feeds G, for input x_i, the discriminator's map of G's previous output for the same x_i.
The reference code keeps those maps in a tensor indexed by dataset position (capacity 3000, on the
GPU, not checkpointed) in the frame of the crop they were computed on. Here the key is (domain side,
image id), the size follows the data set, maps live on the 1/8 grid (the transfer block upsamples),
and the whole memory goes into checkpoints through the method's `extra_state` as plain tensors and
numbers, so a resumed run reads the maps an uninterrupted run would have read.

Frames (`memory_frame`): "image" (default) keeps each map in the frame of the whole resized image
(load size, unflipped): a write un-flips the crop's map and pastes it at the crop's offset, a read
cuts the next crop's window out and flips it if that crop is flipped, so the map lines up with the
image content it describes. "crop" stores maps as computed (the reference code's behaviour), so a
map is replayed under another crop and, with flips on, mirrored half the time.
"""
from __future__ import annotations

import hashlib
import math
from typing import Any, Optional, Sequence

import torch
import torch.nn.functional as F


def _affine_sample(grid_map: torch.Tensor, offset_x: float, offset_y: float, out_size: int) -> torch.Tensor:
    """Bilinear read of an (1, 1, n, n) map at cell positions j + offset for j in range(out_size)."""
    n = grid_map.shape[-1]
    steps = torch.arange(out_size, dtype=torch.float32)
    gx = (2 * (steps + offset_x) + 1) / n - 1
    gy = (2 * (steps + offset_y) + 1) / n - 1
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], -1).unsqueeze(0)
    return F.grid_sample(grid_map, grid, mode="bilinear", padding_mode="border", align_corners=False)[0]


def _coverage(n: int, cell: float, start: float, length: float) -> torch.Tensor:
    """Share of each of n cells (width `cell` px) that the span [start, start + length) covers."""
    low = torch.arange(n, dtype=torch.float32) * cell
    inside = torch.minimum(low + cell, torch.tensor(start + length)) - torch.maximum(low, torch.tensor(start))
    return inside.clamp(0, cell) / cell


class AttentionMemory:
    """Maps keyed by (side, image id); unseen images read the initial map (`ones` or `uniform`).

    `size` is the side of a crop's map (crop size / 8); `crop_size` the crop side in pixels. Views
    are the batches' (x, y, flipped, load size) records (`harness.data.datasets.view_record`).
    """

    def __init__(self, size: int, init: str = "ones", frame: str = "image", crop_size: Optional[int] = None):
        if init not in ("ones", "uniform"):
            raise ValueError(f"unknown memory_init {init!r}; use ones or uniform")
        if frame not in ("image", "crop"):
            raise ValueError(f"unknown memory_frame {frame!r}; use image or crop")
        self.size = size
        self.init = init
        self.frame = frame
        self.crop_size = crop_size or size * 8
        self.cell = self.crop_size / size  # pixels per map cell (8)
        self.maps: dict[str, dict[str, torch.Tensor]] = {}
        # Diagnostics (plain numbers): reads, reads that found an earlier write, spread of written maps.
        self.stats = {"reads": 0, "hits": 0, "writes": 0, "spread_sum": 0.0}

    def __len__(self) -> int:
        return sum(len(v) for v in self.maps.values())

    # ---- geometry ---------------------------------------------------------------------------
    def _frame_side(self, view: Optional[torch.Tensor]) -> int:
        if self.frame == "crop" or view is None:
            return self.size
        return math.ceil(int(view[3]) / self.cell)

    def _initial(self, side: str, image_id: str, n: int) -> torch.Tensor:
        if self.init == "ones":
            return torch.ones(1, n, n)
        # Uniform noise seeded by the key: the same image always starts from the same map.
        seed = int.from_bytes(hashlib.sha256(f"{side}/{image_id}".encode()).digest()[:8], "little") >> 1
        return torch.rand(1, n, n, generator=torch.Generator().manual_seed(seed))

    def _to_crop(self, stored: torch.Tensor, view: Optional[torch.Tensor]) -> torch.Tensor:
        if self.frame == "crop" or view is None:
            return stored
        x, y, flipped = float(view[0]) / self.cell, float(view[1]) / self.cell, bool(view[2])
        m = _affine_sample(stored.unsqueeze(0), x, y, self.size)
        return m.flip(-1) if flipped else m

    def _to_image(self, crop_map: torch.Tensor, old: Optional[torch.Tensor], view: Optional[torch.Tensor]) -> torch.Tensor:
        """Paste a crop's map into the image frame; cells the crop covers only partly (or not at all)
        keep that share of the old map. A first write extends the crop's border values instead of
        keeping the uninformative initial map there."""
        if self.frame == "crop" or view is None:
            return crop_map
        x, y, flipped = float(view[0]), float(view[1]), bool(view[2])
        m = crop_map.flip(-1) if flipped else crop_map  # back to the image's orientation
        n = self._frame_side(view)
        pasted = _affine_sample(m.unsqueeze(0), -x / self.cell, -y / self.cell, n)
        if old is None:
            return pasted
        cover = _coverage(n, self.cell, y, self.crop_size)[:, None] * _coverage(n, self.cell, x, self.crop_size)[None]
        return cover * pasted + (1 - cover) * old

    # ---- read / write -------------------------------------------------------------------------
    def _stored(self, side: str, image_id: str, view: Optional[torch.Tensor]) -> tuple[torch.Tensor, bool]:
        n = self._frame_side(view)
        stored = self.maps.get(side, {}).get(image_id)
        if stored is None:
            return self._initial(side, image_id, n), False
        if stored.shape[-1] != n:
            raise ValueError(f"attention memory holds a {stored.shape[-1]}-cell map for {side}/{image_id}, "
                             f"this batch's view needs {n}: the image or load size changed within one run")
        return stored, True

    def read(self, side: str, ids: Sequence[str], device: torch.device | str = "cpu",
             views: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(len(ids), 1, size, size) maps for the images `ids` of `side`, in each crop's frame."""
        maps = []
        for i, image_id in enumerate(ids):
            view = None if views is None else views[i].cpu()
            stored, hit = self._stored(side, image_id, view)
            self.stats["reads"] += 1
            self.stats["hits"] += int(hit)
            maps.append(self._to_crop(stored, view))
        return torch.stack(maps).to(device)

    def write(self, side: str, ids: Sequence[str], maps: torch.Tensor, views: Optional[torch.Tensor] = None) -> None:
        """Store the detached (B, 1, size, size) crop-frame `maps` for the images `ids` (last write wins)."""
        if maps.shape[1:] != (1, self.size, self.size):
            raise ValueError(f"attention memory holds (1, {self.size}, {self.size}) maps, got {tuple(maps.shape[1:])}")
        slot = self.maps.setdefault(side, {})
        for i, (image_id, m) in enumerate(zip(ids, maps.detach().float().cpu())):
            view = None if views is None else views[i].cpu()
            old, hit = self._stored(side, image_id, view)
            slot[image_id] = self._to_image(m, old if hit else None, view).clone()
            self.stats["writes"] += 1
            self.stats["spread_sum"] += float(m.std(unbiased=False))

    def summary(self) -> dict[str, Any]:
        """Spread (mean spatial std) of the maps written, share of reads that found an earlier write."""
        s = self.stats
        return {"frame": self.frame, "reads": s["reads"], "writes": s["writes"],
                "read_hit_share": s["hits"] / s["reads"] if s["reads"] else None,
                "written_map_spread": s["spread_sum"] / s["writes"] if s["writes"] else None,
                "stored_maps": len(self)}

    # ---- checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"size": self.size, "init": self.init, "frame": self.frame, "stats": dict(self.stats),
                "maps": {side: {k: v.cpu() for k, v in slot.items()} for side, slot in self.maps.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        frame = state.get("frame", "crop")
        if state["size"] != self.size or state["init"] != self.init or frame != self.frame:
            raise ValueError(f"checkpointed attention memory ({state['size']} px, init {state['init']}, frame {frame}) "
                             f"does not match this run's ({self.size} px, init {self.init}, frame {self.frame})")
        self.maps = {side: dict(slot) for side, slot in state["maps"].items()}
        self.stats = {**self.stats, **state.get("stats", {})}
