"""Sample grids of a method's translations (labelled columns, maps in colour and over the output,
ground truth for paired tasks), and the training snapshots drawn from the same fixed test images.

Kept in the training layer because the trainer's monitor draws snapshots while training; the
test-time stage (`harness.translate`) draws the final grids with the same helpers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from PIL import Image
from torchvision.utils import make_grid

from harness.data.datasets import TestSet, collate
from harness.data.splits import Split
from harness.io import atomic_path
from harness.tasks import ImageSpec
from harness.training.device import DeviceSetup
from harness.training.method import Method


def source_side(direction: str) -> str:
    return direction[0]


def target_side(direction: str) -> str:
    return direction[-1]


def inference_mode(method: Method) -> None:
    # pix2pix keeps dropout and batch statistics at test time; everything else uses eval mode.
    method.train(method.config.inference_mode == "train")


# ---------------------------------------------------------------- sample grids
MIN_TILE = 128  # small test images (the demo's 32 px) are enlarged so headers and details can be read
HEADER_PX = 22
MAP_COLOURS = "inferno"  # maps ([0, 1], one channel) are drawn in colour and over the output


def _as_rgb01(t: torch.Tensor, size: int) -> torch.Tensor:
    """Images ([-1, 1], 3 channels) and maps ([0, 1], 1 channel, coloured) to 3-channel [0, 1] at `size`."""
    t = t.detach().float().cpu()
    if t.shape[1] == 1:
        from matplotlib import colormaps  # imported here: only grids need it

        rgb = colormaps[MAP_COLOURS](t[:, 0].clamp(0, 1).numpy())[..., :3]
        t = torch.from_numpy(rgb).permute(0, 3, 1, 2).float()
    else:
        t = ((t[:, :3] + 1) / 2).clamp(0, 1)
    if t.shape[-1] != size:
        t = torch.nn.functional.interpolate(t, size=(size, size), mode="nearest")
    return t


def _overlay(image01: torch.Tensor, map01: torch.Tensor, size: int) -> torch.Tensor:
    """The coloured map blended over the image, so one sees where on the image it points."""
    return (0.45 * image01 + 0.55 * _as_rgb01(map01, size)).clamp(0, 1)


def draw_grid(columns: dict[str, torch.Tensor], tile: int) -> Image.Image:
    """Rows of tiles (one row per image, [0, 1] RGB), with each column's name written above it."""
    from PIL import ImageDraw, ImageFont

    cols = list(columns.values())
    tiles = torch.stack(cols, 1).flatten(0, 1)  # row-major: image i, column j
    grid = make_grid(tiles, nrow=len(cols), padding=2, pad_value=1.0)
    body = Image.fromarray((grid * 255).round().to(torch.uint8).permute(1, 2, 0).numpy())
    canvas = Image.new("RGB", (body.width, body.height + HEADER_PX), "white")
    canvas.paste(body, (0, HEADER_PX))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=13)
    for j, name in enumerate(columns):
        left, right = 2 + j * (tile + 2), 2 + j * (tile + 2) + tile
        label = name.replace("_", " ")
        while len(label) > 3 and draw.textlength(label, font=font) > tile:
            label = label[:-2] + "…"
        width = draw.textlength(label, font=font)
        draw.text(((left + right - width) / 2, 4), label, fill="black", font=font)
    return canvas


def save_image(image: Image.Image, path: Path) -> None:
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


@torch.no_grad()
def grid_columns(method: Method, images: torch.Tensor, direction: str, device: DeviceSetup,
                 scored: Optional[list[Optional[torch.Tensor]]] = None,
                 truth: Optional[torch.Tensor] = None) -> dict[str, torch.Tensor]:
    """Input, the method's visuals (maps also overlaid on the output), ground truth; one image at a time.

    Batch 1 is how the scored translations are made for methods with test-time batch statistics
    (pix2pix); `scored` (the translation files, where on disk) replaces the model's output column so
    the grid shows exactly what was scored.
    """
    size = max(MIN_TILE, images.shape[-1])
    rows: list[dict[str, torch.Tensor]] = []
    for i in range(images.shape[0]):
        one = device.to_device({"image": images[i:i + 1]})["image"]
        with method.autocast():
            visuals = method.visuals(one, direction)
        if scored is not None and scored[i] is not None:
            visuals["output"] = scored[i]
        output = _as_rgb01(visuals["output"], size)
        row = {"input": _as_rgb01(one, size)}
        for name, value in visuals.items():
            row[name] = _as_rgb01(value, size)
            if value.shape[1] == 1:
                row[f"{name} on output"] = _overlay(output, value, size)
        if truth is not None:
            row["ground truth"] = _as_rgb01(truth[i:i + 1], size)
        rows.append(row)
    return {name: torch.cat([r[name] for r in rows]) for name in rows[0]}


@torch.no_grad()
def save_snapshot(method: Method, images: dict[str, torch.Tensor], device: DeviceSetup, path_for) -> list[Path]:
    """Grids of the same fixed test images (per direction) with the current weights, during training.

    Leaves the training state as it was: the global RNG (dropout noise) is forked and buffers (batch
    norm statistics updated by test-time batch statistics) are restored, so a run with snapshots
    trains exactly as one without.
    """
    buffers = {name: b.detach().clone() for name, b in method.named_buffers()}
    was_training = method.training
    cuda = [torch.cuda.current_device()] if device.device.type == "cuda" else []
    paths = []
    with torch.random.fork_rng(devices=cuda):
        inference_mode(method)
        try:
            for direction, batch in images.items():
                columns = grid_columns(method, batch, direction, device)
                path = path_for(direction)
                save_image(draw_grid(columns, columns["input"].shape[-1]), path)
                paths.append(path)
        finally:
            for name, b in method.named_buffers():
                b.copy_(buffers[name])
            method.train(was_training)
    return paths


def fixed_test_images(split: Split, image: ImageSpec, directions: tuple[str, ...],
                      count: int) -> dict[str, torch.Tensor]:
    """The first `count` test images of each direction's source side (the same ones as the sample grids)."""
    out = {}
    for direction in directions:
        refs = split.test[source_side(direction)][:count]
        if refs:
            out[direction] = collate([TestSet(refs, image)[i] for i in range(len(refs))])["image"]
    return out
