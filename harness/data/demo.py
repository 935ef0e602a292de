"""The `demo` task's data: a tiny deterministic shapes data set generated in code.

Domain A ("shape") is a flat label map: a background class and a few discs and boxes in
palette colours (the Cityscapes person and car colours). Domain B ("render") draws the same
scene as a picture: a vertical sky-to-ground gradient behind, objects in other colours with a
vertical stripe pattern, and Gaussian noise. Each image is an aligned A|B file, so the same
data serves paired (supervised) and unpaired methods, the way Cityscapes does. It is written
once into the harness cache (a folder per `DATA_VERSION`, so a cache written by another
version of this file is never read) and then read like real data.

Because the scenes are generated here, the ground truth is known exactly: `expected_colours`
is the noise-free colour every class would have at every pixel, which the demo's oracle
segmenter (`harness.evaluation.demo_oracle`) uses to score translations without any weights.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

# Bump when anything below changes the images: the cache folder is demo-v<DATA_VERSION>.
DATA_VERSION = 2
SIZE = 32
N_TRAIN = 48
N_TEST = 16
CLASS_NAMES = ("background", "disc", "box")
# label colour and rendered colour per class (background is the gradient, not a colour)
LABEL_COLOURS = np.array([[0, 0, 0], [220, 20, 60], [0, 0, 142]], dtype=np.uint8)
RENDER_COLOURS = np.array([[0, 0, 0], [250, 170, 30], [70, 130, 80]], dtype=np.float32)
SKY = np.array([120, 170, 230], dtype=np.float32)
GROUND = np.array([90, 80, 60], dtype=np.float32)
STRIPE_AMPLITUDE = 25.0
STRIPE_FREQUENCY = 0.9  # radians per pixel at SIZE
NOISE_STD = 6.0
# Objects per scene and their half-size (radius) in pixels at SIZE. Large enough that the
# background is about half of the pixels: a method that paints background everywhere must
# not score well on per-pixel accuracy.
N_OBJECTS = (3, 6)  # low inclusive, high exclusive
RADIUS = (5, 10)


def cache_dir() -> Path:
    """The harness's cache folder (`HARNESS_CACHE`, else ~/.cache/harness)."""
    return Path(os.environ.get("HARNESS_CACHE", Path.home() / ".cache" / "harness"))


def data_folder() -> Path:
    return cache_dir() / "data" / f"demo-v{DATA_VERSION}"


def background(height: int, width: int) -> np.ndarray:
    """The noise-free background at height×width: sky at the top row, ground at the bottom."""
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    return np.broadcast_to(SKY * (1 - t) + GROUND * t, (height, width, 3)).astype(np.float32)


def stripes(height: int, width: int) -> np.ndarray:
    """The objects' vertical stripe pattern (added to every channel), scaled to the width."""
    x = np.arange(width, dtype=np.float32) * (SIZE / width)
    wave = np.sin(x * STRIPE_FREQUENCY) * STRIPE_AMPLITUDE
    return np.broadcast_to(wave[None, :, None], (height, width, 1)).astype(np.float32)


def expected_colours(height: int, width: int) -> np.ndarray:
    """classes×H×W×3: the noise-free rendered colour of each class at each pixel, clipped to 0..255."""
    out = [background(height, width)]
    for cls in range(1, len(CLASS_NAMES)):
        out.append(np.broadcast_to(RENDER_COLOURS[cls] + stripes(height, width), (height, width, 3)))
    return np.clip(np.stack(out), 0, 255)


def _scene(rng: np.random.Generator) -> np.ndarray:
    labels = np.zeros((SIZE, SIZE), dtype=np.uint8)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    for _ in range(rng.integers(*N_OBJECTS)):
        cls = int(rng.integers(1, 3))
        cy, cx = rng.integers(4, SIZE - 4, size=2)
        r = int(rng.integers(*RADIUS))
        if cls == 1:
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        else:
            mask = (abs(yy - cy) <= r * 0.8) & (abs(xx - cx) <= r * 0.8)
        labels[mask] = cls
    return labels


def _render(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    expected = expected_colours(SIZE, SIZE)
    img = np.take_along_axis(expected, labels[None, :, :, None].astype(np.int64), 0)[0]
    img = img + rng.normal(0.0, NOISE_STD, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def scene(index: int, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(label map H×W of class ids, rendered image H×W×3 uint8) of one generated scene."""
    rng = np.random.default_rng([index, 0 if split == "train" else 1])
    labels = _scene(rng)
    return labels, _render(labels, rng)


def _pair(index: int, split: str) -> Image.Image:
    labels, render = scene(index, split)
    return Image.fromarray(np.concatenate([LABEL_COLOURS[labels], render], axis=1))


def write_demo(root: Path) -> None:
    for split, n in (("train", N_TRAIN), ("val", N_TEST)):
        (root / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            _pair(i, split).save(root / split / f"{i:03d}.png", optimize=False)


def ensure_demo_data() -> Path:
    """Generate the demo data set into the cache if it is not there yet; return its folder."""
    root = data_folder()
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
