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


def _affine_sample(grid_map: torch.Tensor, offset_x: torch.Tensor, offset_y: torch.Tensor, out_size: int) -> torch.Tensor:
    """Bilinear read of an (1, 1, n, n) map at cell positions j + offset for j in range(out_size).
    Offsets are 0-dim tensors on the map's device, so no value is read back to the host."""
    n = grid_map.shape[-1]
    steps = torch.arange(out_size, dtype=torch.float32, device=grid_map.device)
    gx = (2 * (steps + offset_x) + 1) / n - 1
    gy = (2 * (steps + offset_y) + 1) / n - 1
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], -1).unsqueeze(0)
    return F.grid_sample(grid_map, grid, mode="bilinear", padding_mode="border", align_corners=False)[0]


def _coverage(n: int, cell: float, start: torch.Tensor, length: float) -> torch.Tensor:
    """Share of each of n cells (width `cell` px) that the span [start, start + length) covers."""
    low = torch.arange(n, dtype=torch.float32, device=start.device) * cell
    inside = torch.minimum(low + cell, start + length) - torch.maximum(low, start)
    return inside.clamp(0, cell) / cell


def _flip_where(m: torch.Tensor, flipped: torch.Tensor) -> torch.Tensor:
    """m mirrored left-right where `flipped` (a 0-dim tensor) is true, without reading it on the host."""
    return torch.where(flipped.bool(), m.flip(-1), m)


class AttentionMemory:
    """Maps keyed by (side, image id); unseen images read the initial map (`ones` or `uniform`).

    `size` is the side of a crop's map (crop size / 8); `crop_size` the crop side in pixels. Views
    are the batches' (x, y, flipped, load size) records (`harness.data.datasets.view_record`).

    Sync-free on CUDA: maps stay on the device they were written from, crop offsets and flips are
    applied as tensor operations, and the statistics accumulate on the device; the only values read
    back to the host are the image frame's side (once per run, from the first view) and the
    statistics when `summary()` or a checkpoint asks for them. Keys and counts are host data.
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
        # Diagnostics: reads, reads that found an earlier write (host counts), spread of written maps
        # (a device tensor until summary() reads it).
        self.stats: dict[str, Any] = {"reads": 0, "hits": 0, "writes": 0, "spread_sum": 0.0}
        self.recent: dict[str, list[str]] = {}  # per side, the last two distinct images written
        self._load_sides: dict[int, int] = {}  # load size → frame side, learnt from the first view

    def __len__(self) -> int:
        return sum(len(v) for v in self.maps.values())

    # ---- geometry ---------------------------------------------------------------------------
    def _frame_side(self, view: Optional[torch.Tensor]) -> int:
        if self.frame == "crop" or view is None:
            return self.size
        if not self._load_sides:  # one host read per run: the load size is the same for every view
            load = int(view[3])
            self._load_sides[load] = math.ceil(load / self.cell)
        return next(iter(self._load_sides.values()))

    def _initial(self, side: str, image_id: str, n: int, device: torch.device | str) -> torch.Tensor:
        if self.init == "ones":
            return torch.ones(1, n, n, device=device)
        # Uniform noise seeded by the key: the same image always starts from the same map.
        seed = int.from_bytes(hashlib.sha256(f"{side}/{image_id}".encode()).digest()[:8], "little") >> 1
        noise = torch.rand(1, n, n, generator=torch.Generator().manual_seed(seed))
        return noise.to(device, non_blocking=True)

    def _to_crop(self, stored: torch.Tensor, view: Optional[torch.Tensor]) -> torch.Tensor:
        if self.frame == "crop" or view is None:
            return stored
        view = view.to(stored.device, non_blocking=True).float()
        m = _affine_sample(stored.unsqueeze(0), view[0] / self.cell, view[1] / self.cell, self.size)
        return _flip_where(m, view[2])

    def _to_image(self, crop_map: torch.Tensor, old: Optional[torch.Tensor], view: Optional[torch.Tensor]) -> torch.Tensor:
        """Paste a crop's map into the image frame; cells the crop covers only partly (or not at all)
        keep that share of the old map. A first write extends the crop's border values instead of
        keeping the uninformative initial map there."""
        if self.frame == "crop" or view is None:
            return crop_map
        n = self._frame_side(view)
        view = view.to(crop_map.device, non_blocking=True).float()
        m = _flip_where(crop_map, view[2])  # back to the image's orientation
        pasted = _affine_sample(m.unsqueeze(0), -view[0] / self.cell, -view[1] / self.cell, n)
        if old is None:
            return pasted
        cover = (_coverage(n, self.cell, view[1], self.crop_size)[:, None]
                 * _coverage(n, self.cell, view[0], self.crop_size)[None])
        return cover * pasted + (1 - cover) * old.to(pasted.device, non_blocking=True)

    # ---- read / write -------------------------------------------------------------------------
    def _stored(self, side: str, image_id: str, view: Optional[torch.Tensor],
                device: torch.device | str) -> tuple[torch.Tensor, bool]:
        n = self._frame_side(view)
        stored = self.maps.get(side, {}).get(image_id)
        if stored is None:
            return self._initial(side, image_id, n, device), False
        if stored.shape[-1] != n:
            raise ValueError(f"attention memory holds a {stored.shape[-1]}-cell map for {side}/{image_id}, "
                             f"this batch's view needs {n}: the image or load size changed within one run")
        if stored.device != torch.device(device):  # after a resume: maps come from the checkpoint on the CPU
            stored = self.maps[side][image_id] = stored.to(device, non_blocking=True)
        return stored, True

    def partner_of(self, side: str, image_id: str) -> Optional[str]:
        """Another image of `side` whose map was written most recently (the `shuffled` ablation)."""
        for other in self.recent.get(side, []):
            if other != image_id:
                return other
        return None

    def read(self, side: str, ids: Sequence[str], device: torch.device | str = "cpu",
             views: Optional[torch.Tensor] = None, partner: bool = False) -> torch.Tensor:
        """(len(ids), 1, size, size) maps for the images `ids` of `side`, in each crop's frame.
        `partner=True` reads, for each image, the map of another image (`partner_of`) instead."""
        maps = []
        for i, image_id in enumerate(ids):
            view = None if views is None else views[i]
            key = (self.partner_of(side, image_id) or f"\0no partner for {image_id}") if partner else image_id
            stored, hit = self._stored(side, key, view, device)
            self.stats["reads"] += 1
            self.stats["hits"] += int(hit)
            maps.append(self._to_crop(stored, view))
        return torch.stack(maps)

    def write(self, side: str, ids: Sequence[str], maps: torch.Tensor, views: Optional[torch.Tensor] = None) -> None:
        """Store the detached (B, 1, size, size) crop-frame `maps` for the images `ids` (last write wins)."""
        if maps.shape[1:] != (1, self.size, self.size):
            raise ValueError(f"attention memory holds (1, {self.size}, {self.size}) maps, got {tuple(maps.shape[1:])}")
        slot = self.maps.setdefault(side, {})
        maps = maps.detach().float()
        for i, (image_id, m) in enumerate(zip(ids, maps)):
            view = None if views is None else views[i]
            old, hit = self._stored(side, image_id, view, maps.device)
            slot[image_id] = self._to_image(m, old if hit else None, view).clone()
            self.stats["writes"] += 1
            self.stats["spread_sum"] = self.stats["spread_sum"] + m.std(unbiased=False)
            recent = self.recent.setdefault(side, [])
            self.recent[side] = [image_id] + [r for r in recent if r != image_id][:1]

    def summary(self) -> dict[str, Any]:
        """Spread (mean spatial std) of the maps written, share of reads that found an earlier write."""
        s = self.stats
        return {"frame": self.frame, "reads": s["reads"], "writes": s["writes"],
                "read_hit_share": s["hits"] / s["reads"] if s["reads"] else None,
                "written_map_spread": float(s["spread_sum"]) / s["writes"] if s["writes"] else None,
                "stored_maps": len(self)}

    # ---- checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        stats = {**self.stats, "spread_sum": float(self.stats["spread_sum"])}
        return {"size": self.size, "init": self.init, "frame": self.frame, "stats": stats,
                "recent": {side: list(ids) for side, ids in self.recent.items()},
                "maps": {side: {k: v.cpu() for k, v in slot.items()} for side, slot in self.maps.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        frame = state.get("frame", "crop")
        if state["size"] != self.size or state["init"] != self.init or frame != self.frame:
            raise ValueError(f"checkpointed attention memory ({state['size']} px, init {state['init']}, frame {frame}) "
                             f"does not match this run's ({self.size} px, init {self.init}, frame {self.frame})")
        self.maps = {side: dict(slot) for side, slot in state["maps"].items()}
        self.stats = {**self.stats, **state.get("stats", {})}
        self.recent = {side: list(ids) for side, ids in state.get("recent", {}).items()}
