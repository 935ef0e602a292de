"""Test-time stage: translate every test image of each direction to PNG, and draw sample grids.

All test images are translated (never a sample), at the task's test size (resize to the crop
size, no crop, no flip), with one uint8 rounding rule, saved losslessly as PNG so that metrics
are computed from exactly these files.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.utils import make_grid
from tqdm import tqdm

from harness.data.datasets import TestSet, collate, to_uint8
from harness.data.splits import Split
from harness.io import atomic_path
from harness.tasks import ImageSpec
from harness.training.device import DeviceSetup
from harness.training.method import Method


def source_side(direction: str) -> str:
    return direction[0]


def target_side(direction: str) -> str:
    return direction[-1]


def _inference_mode(method: Method) -> None:
    # pix2pix keeps dropout and batch statistics at test time; everything else uses eval mode.
    method.train(method.config.inference_mode == "train")


def save_png(tensor_uint8: torch.Tensor, path: Path) -> None:
    """Save a CHW uint8 tensor atomically as PNG."""
    array = tensor_uint8.permute(1, 2, 0).cpu().numpy()
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")


@torch.no_grad()
def translate_test_set(method: Method, split: Split, image: ImageSpec, device: DeviceSetup, out_dir: Path,
                       seed: int, batch_size: int = 16) -> dict[str, Any]:
    """Write `out_dir/<direction>/<image id>.png` for every test image; return counts and digests."""
    _inference_mode(method)
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
            with method.autocast():
                fake = method.translate(images, direction)
            for img, image_id in zip(to_uint8(fake), batch["id"]):
                save_png(img, target / f"{image_id}.png")
                digest.update(image_id.encode() + img.cpu().numpy().tobytes())
        record[direction] = {"dir": f"{out_dir.name}/{direction}", "n_images": len(refs), "sha256": digest.hexdigest()}
    method.train()
    return record


def _as_rgb01(t: torch.Tensor, size: int) -> torch.Tensor:
    """Images ([-1, 1], 3 channels) and maps ([0, 1], 1 channel) to 3-channel [0, 1] at `size`."""
    t = t.detach().float()
    if t.shape[1] == 1:
        t = t.clamp(0, 1).repeat(1, 3, 1, 1)
    else:
        t = ((t[:, :3] + 1) / 2).clamp(0, 1)
    if t.shape[-1] != size:
        t = torch.nn.functional.interpolate(t, size=(size, size), mode="nearest")
    return t


@torch.no_grad()
def save_sample_grids(method: Method, split: Split, image: ImageSpec, device: DeviceSetup, run_dir: Path,
                      count: int, seed: int) -> dict[str, dict[str, Any]]:
    """One PNG per direction: a row per test image, columns input then the method's visuals."""
    _inference_mode(method)
    torch.manual_seed(seed)
    written: dict[str, dict[str, Any]] = {}
    for direction in method.directions:
        dataset = TestSet(split.test[source_side(direction)][:count], image)
        batch = device.to_device(collate([dataset[i] for i in range(len(dataset))]))
        with method.autocast():
            columns = {"input": batch["image"], **method.visuals(batch["image"], direction)}
        cols = [_as_rgb01(c, image.crop_size) for c in columns.values()]
        tiles = torch.stack(cols, 1).flatten(0, 1)  # row-major: image i, column j
        grid = make_grid(tiles.cpu(), nrow=len(cols), padding=2, pad_value=1.0)
        path = run_dir / f"samples_{direction}.png"
        save_png((grid * 255).round().to(torch.uint8), path)
        written[direction] = {"file": path.name, "columns": list(columns), "n_images": len(dataset)}
    method.train()
    return written
