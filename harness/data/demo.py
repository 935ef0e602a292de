"""The `demo` task's data: a tiny deterministic shapes data set generated in code.

Domain A ("shape") is a flat label map: a background class and a few discs and boxes in
palette colours. Domain B ("render") draws the same scene as a shaded picture: a gradient
sky/ground background, textured objects in other colours, and noise. Each image is an
aligned A|B file, so the same data serves paired (supervised) and unpaired methods, the way
Cityscapes does. It is written once into the harness cache and then read like real data.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 32
N_TRAIN = 48
N_TEST = 16
# label colour -> rendered colour, per class: background, disc, box
LABEL_COLOURS = np.array([[0, 0, 0], [220, 20, 60], [0, 0, 142]], dtype=np.uint8)
RENDER_COLOURS = np.array([[0, 0, 0], [250, 170, 30], [70, 130, 80]], dtype=np.float32)


def cache_dir() -> Path:
    """The harness's cache folder (`HARNESS_CACHE`, else ~/.cache/harness)."""
    return Path(os.environ.get("HARNESS_CACHE", Path.home() / ".cache" / "harness"))


def _scene(rng: np.random.Generator) -> np.ndarray:
    labels = np.zeros((SIZE, SIZE), dtype=np.uint8)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    for _ in range(rng.integers(1, 4)):
        cls = int(rng.integers(1, 3))
        cy, cx = rng.integers(6, SIZE - 6, size=2)
        r = int(rng.integers(3, 8))
        if cls == 1:
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        else:
            mask = (abs(yy - cy) <= r) & (abs(xx - cx) <= r)
        labels[mask] = cls
    return labels


def _render(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    yy = np.linspace(0.0, 1.0, SIZE)[:, None, None]
    sky = np.array([120, 170, 230], dtype=np.float32)
    ground = np.array([90, 80, 60], dtype=np.float32)
    img = np.broadcast_to(sky * (1 - yy) + ground * yy, (SIZE, SIZE, 3)).copy()
    stripes = (np.sin(np.arange(SIZE) * 0.9)[None, :, None] * 25.0)
    for cls in (1, 2):
        mask = labels == cls
        img[mask] = RENDER_COLOURS[cls] + stripes.repeat(SIZE, 0)[mask]
    img += rng.normal(0.0, 6.0, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _pair(index: int, split: str) -> Image.Image:
    rng = np.random.default_rng([index, 0 if split == "train" else 1])
    labels = _scene(rng)
    a = LABEL_COLOURS[labels]
    b = _render(labels, rng)
    return Image.fromarray(np.concatenate([a, b], axis=1))


def write_demo(root: Path) -> None:
    for split, n in (("train", N_TRAIN), ("val", N_TEST)):
        (root / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            _pair(i, split).save(root / split / f"{i:03d}.png", optimize=False)


def ensure_demo_data() -> Path:
    """Generate the demo data set into the cache if it is not there yet; return its folder."""
    root = cache_dir() / "data" / "demo"
    if (root / "val" / f"{N_TEST - 1:03d}.png").exists() and (root / "train" / f"{N_TRAIN - 1:03d}.png").exists():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".demo-", dir=root.parent))
    try:
        write_demo(tmp)
        if root.exists():
            shutil.rmtree(root)
        os.replace(tmp, root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root
