"""Cityscapes: the class table (single source for the whole harness), the converter from the
official release to the pix2pix aligned layout, and readers for the integer label maps.

The class table is the official `cityscapesscripts/helpers/labels.py` (34 label ids plus the
license plate; 19 train ids, everything else ignored as 255). Forks that add a trainId-19 "lane
line" row are not followed.

`convert_cityscapes(src, dst)` reads `src/leftImg8bit/<split>/<city>/*_leftImg8bit.png` and
`src/gtFine/<split>/<city>/*_gtFine_labelIds.png` (train and val; the test split has no public
labels) and writes, under `dst`:

- `train/<id>.png`, `val/<id>.png`: aligned A|B images, photo (A, left) | colour label (B, right),
  each half `size`x`size` (256 by default), `<id>` = `<city>_<seq>_<frame>`. The photo is resized
  bicubically; the label is drawn from the train ids with `TRAIN_PALETTE` (void black) after a
  nearest-neighbour resize, so every label pixel is an exact palette colour. PNG, lossless.
- `train_ids/<split>/<id>.png`: the integer train-id map (uint8, 0..18, 255 = ignore) at the
  release's full resolution (1024x2048), the ground truth of the FCN score (label->photo: the
  segmenter's prediction on a generated photo; photo->label: the generated label's nearest palette
  colour). Read them with `read_train_ids(dst, split, id)`.

The harness's `cityscapes` task reads `dst` like any aligned data set (`val/` is its test split);
`train_ids/` is ignored by the layout reader but hashed into the data manifest.

Command line: `python -m harness.data.cityscapes SRC DST [--size 256] [--label-style train_ids]`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np
from PIL import Image

from harness.errors import HarnessError
from harness.io import atomic_path

IGNORE_ID = 255
SPLITS = ("train", "val")
LABEL_MAP_FOLDER = "train_ids"


class CityscapesClass(NamedTuple):
    name: str
    label_id: int
    train_id: int  # 255: ignored in training and evaluation
    colour: tuple[int, int, int]


# The official table (mcordts/cityscapesScripts, labels.py); license plate's train id -1 is read as ignore.
CLASSES: tuple[CityscapesClass, ...] = (
    CityscapesClass("unlabeled", 0, 255, (0, 0, 0)),
    CityscapesClass("ego vehicle", 1, 255, (0, 0, 0)),
    CityscapesClass("rectification border", 2, 255, (0, 0, 0)),
    CityscapesClass("out of roi", 3, 255, (0, 0, 0)),
    CityscapesClass("static", 4, 255, (0, 0, 0)),
    CityscapesClass("dynamic", 5, 255, (111, 74, 0)),
    CityscapesClass("ground", 6, 255, (81, 0, 81)),
    CityscapesClass("road", 7, 0, (128, 64, 128)),
    CityscapesClass("sidewalk", 8, 1, (244, 35, 232)),
    CityscapesClass("parking", 9, 255, (250, 170, 160)),
    CityscapesClass("rail track", 10, 255, (230, 150, 140)),
    CityscapesClass("building", 11, 2, (70, 70, 70)),
    CityscapesClass("wall", 12, 3, (102, 102, 156)),
    CityscapesClass("fence", 13, 4, (190, 153, 153)),
    CityscapesClass("guard rail", 14, 255, (180, 165, 180)),
    CityscapesClass("bridge", 15, 255, (150, 100, 100)),
    CityscapesClass("tunnel", 16, 255, (150, 120, 90)),
    CityscapesClass("pole", 17, 5, (153, 153, 153)),
    CityscapesClass("polegroup", 18, 255, (153, 153, 153)),
    CityscapesClass("traffic light", 19, 6, (250, 170, 30)),
    CityscapesClass("traffic sign", 20, 7, (220, 220, 0)),
    CityscapesClass("vegetation", 21, 8, (107, 142, 35)),
    CityscapesClass("terrain", 22, 9, (152, 251, 152)),
    CityscapesClass("sky", 23, 10, (70, 130, 180)),
    CityscapesClass("person", 24, 11, (220, 20, 60)),
    CityscapesClass("rider", 25, 12, (255, 0, 0)),
    CityscapesClass("car", 26, 13, (0, 0, 142)),
    CityscapesClass("truck", 27, 14, (0, 0, 70)),
    CityscapesClass("bus", 28, 15, (0, 60, 100)),
    CityscapesClass("caravan", 29, 255, (0, 0, 90)),
    CityscapesClass("trailer", 30, 255, (0, 0, 110)),
    CityscapesClass("train", 31, 16, (0, 80, 100)),
    CityscapesClass("motorcycle", 32, 17, (0, 0, 230)),
    CityscapesClass("bicycle", 33, 18, (119, 11, 32)),
    CityscapesClass("license plate", -1, 255, (0, 0, 142)),
)

N_CLASSES = 19
TRAIN_CLASS_NAMES: tuple[str, ...] = tuple(
    next(c.name for c in CLASSES if c.train_id == t) for t in range(N_CLASSES))
# Row t = colour of train id t; the ignore colour (black) is separate so palettes of 19 and 20 exist.
TRAIN_PALETTE = np.array([next(c.colour for c in CLASSES if c.train_id == t) for t in range(N_CLASSES)],
                         dtype=np.uint8)
IGNORE_COLOUR = (0, 0, 0)

# label id (0..33) → train id; any other value of a labelIds map → ignore.
LABEL_TO_TRAIN = np.full(256, IGNORE_ID, dtype=np.uint8)
for _c in CLASSES:
    if _c.label_id >= 0:
        LABEL_TO_TRAIN[_c.label_id] = _c.train_id


def label_ids_to_train_ids(label_ids: np.ndarray) -> np.ndarray:
    """gtFine `labelIds` map (uint8) → train-id map (uint8, 255 = ignore)."""
    return LABEL_TO_TRAIN[np.asarray(label_ids, dtype=np.uint8)]


def train_ids_to_colour(train_ids: np.ndarray) -> np.ndarray:
    """Train-id map → RGB image with `TRAIN_PALETTE`; ignore pixels black."""
    table = np.zeros((256, 3), dtype=np.uint8)
    table[:N_CLASSES] = TRAIN_PALETTE
    table[IGNORE_ID] = IGNORE_COLOUR
    return table[np.asarray(train_ids, dtype=np.uint8)]


def colour_to_train_ids(rgb: np.ndarray, include_ignore: bool = True) -> np.ndarray:
    """Each pixel → the train id of the nearest palette colour (L2 in RGB); with `include_ignore`,
    black is a 20th colour that maps to 255, so void pixels are not forced into a class."""
    colours = TRAIN_PALETTE.astype(np.int32)
    ids = np.arange(N_CLASSES, dtype=np.uint8)
    if include_ignore:
        colours = np.vstack([colours, np.array(IGNORE_COLOUR, dtype=np.int32)])
        ids = np.append(ids, np.uint8(IGNORE_ID))
    flat = np.asarray(rgb, dtype=np.int32).reshape(-1, 1, 3)
    nearest = ((flat - colours[None]) ** 2).sum(-1).argmin(1)
    return ids[nearest].reshape(np.asarray(rgb).shape[:2])


def train_id_path(root: str | Path, split: str, image_id: str) -> Path:
    """Where the converter wrote the train-id map of `image_id` (`split` is train or val; the
    harness's test split of Cityscapes is the release's val)."""
    split = "val" if split == "test" else split
    return Path(root) / LABEL_MAP_FOLDER / split / f"{image_id}.png"


def read_train_ids(root: str | Path, split: str, image_id: str) -> np.ndarray:
    """The full-resolution train-id map (uint8, 255 = ignore) of one converted image, or an error
    that says how to produce it."""
    path = train_id_path(root, split, image_id)
    if not path.is_file():
        raise HarnessError(f"no Cityscapes label map {path}; convert the release with "
                           f"`python -m harness.data.cityscapes SRC {root}`")
    with Image.open(path) as img:
        return np.asarray(img.convert("L") if img.mode != "L" else img, dtype=np.uint8).copy()


def _pairs(src: Path, split: str) -> list[tuple[str, Path, Path]]:
    """(id, photo, labelIds) for a split, sorted and checked pairwise."""
    photo_dir, label_dir = src / "leftImg8bit" / split, src / "gtFine" / split
    for folder in (photo_dir, label_dir):
        if not folder.is_dir():
            raise HarnessError(f"{folder} is missing: SRC must hold leftImg8bit/ and gtFine/ from the official "
                               f"leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip")
    photos = {p.name[: -len("_leftImg8bit.png")]: p for p in photo_dir.glob("*/*_leftImg8bit.png")}
    labels = {p.name[: -len("_gtFine_labelIds.png")]: p for p in label_dir.glob("*/*_gtFine_labelIds.png")}
    if not photos:
        raise HarnessError(f"no *_leftImg8bit.png files under {photo_dir}/<city>/")
    missing = sorted(set(photos) ^ set(labels))
    if missing:
        side = "labelIds" if missing[0] in photos else "leftImg8bit"
        raise HarnessError(f"{split}: {missing[0]} has no {side} file ({len(missing)} unmatched in all)")
    return [(i, photos[i], labels[i]) for i in sorted(photos)]


def _save_png(img: Image.Image, path: Path) -> None:
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")


def convert_cityscapes(src: str | Path, dst: str | Path, size: int = 256, label_style: str = "train_ids",
                       splits: tuple[str, ...] = SPLITS, limit: Optional[int] = None) -> dict[str, int]:
    """Convert the official release under `src` into the aligned layout under `dst` (see module doc).

    `label_style`: `train_ids` draws labels from the train ids with the 19-colour palette (exact
    colours, void black); `official_colour` resizes gtFine `_color.png` with nearest neighbour, as
    pix2pix's label images (void classes keep their own colours). Returns images written per split.
    """
    if label_style not in ("train_ids", "official_colour"):
        raise HarnessError(f"label_style must be train_ids or official_colour, got {label_style!r}")
    src, dst = Path(src), Path(dst)
    written: dict[str, int] = {}
    for split in splits:
        pairs = _pairs(src, split)[:limit]
        for image_id, photo_path, label_path in pairs:
            with Image.open(photo_path) as img:
                photo = img.convert("RGB").resize((size, size), Image.BICUBIC)
            with Image.open(label_path) as img:
                train_ids = label_ids_to_train_ids(np.asarray(img))
            if label_style == "train_ids":
                small = Image.fromarray(train_ids).resize((size, size), Image.NEAREST)
                label = Image.fromarray(train_ids_to_colour(np.asarray(small)))
            else:
                colour_path = label_path.with_name(label_path.name.replace("_labelIds.png", "_color.png"))
                with Image.open(colour_path) as img:
                    label = img.convert("RGB").resize((size, size), Image.NEAREST)
            aligned = Image.new("RGB", (2 * size, size))
            aligned.paste(photo, (0, 0))
            aligned.paste(label, (size, 0))
            _save_png(aligned, dst / split / f"{image_id}.png")
            _save_png(Image.fromarray(train_ids), train_id_path(dst, split, image_id))
        written[split] = len(pairs)
    return written


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.data.cityscapes",
                                     description="convert Cityscapes (leftImg8bit + gtFine) to the aligned layout")
    parser.add_argument("src", help="folder holding leftImg8bit/ and gtFine/")
    parser.add_argument("dst", help="output folder (use <data root>/cityscapes)")
    parser.add_argument("--size", type=int, default=256, help="side of each half (default 256)")
    parser.add_argument("--label-style", default="train_ids", choices=["train_ids", "official_colour"])
    parser.add_argument("--limit", type=int, default=None, help="at most this many images per split")
    args = parser.parse_args(argv)
    try:
        counts = convert_cityscapes(args.src, args.dst, args.size, args.label_style, limit=args.limit)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(", ".join(f"{split}: {n}" for split, n in counts.items()), f"→ {args.dst}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
