"""Test-time stage: translate every test image of each direction to PNG, and draw the sample grids
(the grid helpers live in `harness.training.samples`, shared with the training snapshots).

All test images are translated (never a sample), at the task's test size (resize to the crop
size, no crop, no flip), with one uint8 rounding rule, saved losslessly as PNG so that metrics
are computed from exactly these files. Scored translations are computed in float32 even when
training ran under bf16 autocast: rounding bf16 outputs to uint8 changes about 6.5 % of pixel
values by one level, which would make scores depend on a speed option.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Optional

import numpy as np

import torch
from PIL import Image
from torch.utils.data import DataLoader
from tqdm import tqdm

from harness.data.datasets import TestSet, collate, to_uint8
from harness.data.splits import Split
from harness.io import atomic_path, update_pixels_digest
from harness.tasks import ImageSpec
from harness.training.device import DeviceSetup
from harness.training.method import Method
from harness.training.samples import (draw_grid, grid_columns, inference_mode, save_image, source_side,
                                      target_side)

TRANSLATE_DTYPE = "float32"  # recorded in result.json as translate_dtype


def save_png(tensor_uint8: torch.Tensor, path: Path) -> None:
    """Save a CHW uint8 tensor atomically as PNG."""
    array = tensor_uint8.permute(1, 2, 0).cpu().numpy()
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")


@torch.no_grad()
def translate_test_set(method: Method, split: Split, image: ImageSpec, device: DeviceSetup, out_dir: Path,
                       seed: int, batch_size: int = 16) -> dict[str, Any]:
    """Write `out_dir/<direction>/<image id>.png` for every test image; return counts and digests."""
    inference_mode(method)
    if method.config.inference_mode == "train":
        batch_size = 1  # batch statistics of one image, as the pix2pix test script uses
    torch.manual_seed(seed)
    record: dict[str, Any] = {}
    for direction in method.directions:
        refs = split.test[source_side(direction)]
        target = out_dir / direction
        digest = hashlib.sha256()
        loader = DataLoader(TestSet(refs, image), batch_size=batch_size, shuffle=False, collate_fn=collate,
                            num_workers=device.num_workers)
        for batch in tqdm(loader, desc=f"translate {direction}", unit="batch", disable=None, leave=False):
            images = device.to_device(batch)["image"]
            fake = method.translate(images, direction).float()  # float32: no autocast here
            for img, image_id in zip(to_uint8(fake), batch["id"]):
                save_png(img, target / f"{image_id}.png")
                update_pixels_digest(digest, image_id, img)
        record[direction] = {"dir": f"{out_dir.name}/{direction}", "n_images": len(refs), "sha256": digest.hexdigest()}
    method.train()
    return record


def _load_translation(path: Path, size: int) -> Optional[torch.Tensor]:
    """A scored translation PNG as a [-1, 1] batch of one, or None when it is not on disk."""
    if not path.is_file():
        return None
    array = np.asarray(Image.open(path).convert("RGB").resize((size, size), Image.NEAREST), dtype=np.float32)
    return torch.from_numpy(array / 127.5 - 1.0).permute(2, 0, 1)[None]


@torch.no_grad()
def save_sample_grids(method: Method, split: Split, image: ImageSpec, device: DeviceSetup, run_dir: Path,
                      count: int, seed: int) -> dict[str, dict[str, Any]]:
    """One PNG per direction: a row per test image, labelled columns (input, maps, output, ground truth).

    Drawn at the scored test-time settings: the method's inference mode, batch 1, and the output
    column read from the translation files when they exist.
    """
    inference_mode(method)
    torch.manual_seed(seed)
    written: dict[str, dict[str, Any]] = {}
    paired = split.paired_ids("test")
    for direction in method.directions:
        refs = split.test[source_side(direction)][:count]
        images = collate([TestSet(refs, image)[i] for i in range(len(refs))])["image"]
        folder = run_dir / "translations" / direction
        scored = [_load_translation(folder / f"{ref.id}.png", image.crop_size) for ref in refs]
        truth = None
        if paired:
            truths = split.test[target_side(direction)][:count]
            truth = collate([TestSet(truths, image)[i] for i in range(len(truths))])["image"]
        columns = grid_columns(method, images, direction, device, scored, truth)
        path = run_dir / f"samples_{direction}.png"
        save_image(draw_grid(columns, columns["input"].shape[-1]), path)
        written[direction] = {"file": path.name, "columns": list(columns), "n_images": len(refs), "batch_size": 1,
                              "image_ids": [ref.id for ref in refs],
                              "output_from": "translations" if all(t is not None for t in scored) else "model"}
    method.train()
    return written


