"""Readers for the folder layouts the paper's data sets come in.

- `cyclegan`: trainA/ trainB/ testA/ testB/ (official split), or A/ B/ (all images, split at random)
- `aligned`: pix2pix aligned images, A|B side by side, in train/ and val/ (or test/); the
  pix2pix Cityscapes release (`cityscapes/train/1.jpg` ... photo left, colour label right) is
  read as it is. With `test_only=True` a copy holding only val/ (or test/) is accepted, for
  evaluation
- `webcam`: training|test / <domain A name>|<domain B name> (the AMOS day/night set)

Each reader returns, per split and domain side, a list of `ImageRef`s. It only lists files
and reads image headers; decoding happens in the data sets, which name the file on failure.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from PIL import Image, UnidentifiedImageError

from harness.errors import HarnessError
from harness.safety.images import IMAGE_ERRORS
from harness.safety.paths import require_regular_file

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@dataclass(frozen=True)
class ImageRef:
    """One image of a domain: `half` is 'left'/'right' for aligned A|B files, else None."""

    id: str
    path: Path
    half: Optional[str] = None


# {"train"|"test": {"A"|"B": [ImageRef, ...]}}
Listing = dict[str, dict[str, list[ImageRef]]]


def _images_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise HarnessError(f"expected folder {folder} is missing")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not files:
        raise HarnessError(f"folder {folder} holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
    return files


def _refs(folder: Path, half: Optional[str] = None) -> list[ImageRef]:
    return [ImageRef(p.stem, p, half) for p in _images_in(folder)]


def read_cyclegan(root: Path) -> Listing:
    if (root / "trainA").is_dir() or (root / "testA").is_dir():
        return {split: {side: _refs(root / f"{split}{side}") for side in "AB"} for split in ("train", "test")}
    if (root / "A").is_dir() and (root / "B").is_dir():
        return {"all": {side: _refs(root / side) for side in "AB"}}
    raise HarnessError(f"{root} is not in the CycleGAN layout: expected trainA/, trainB/, testA/, testB/ "
                       f"(or A/ and B/ for a random split); found {_children(root)}")


def read_aligned(root: Path, test_only: bool = False) -> Listing:
    """train/ and val/ (or test/) of A|B images; with `test_only`, train/ may be absent (evaluation)."""
    test_dir = next((root / n for n in ("val", "test") if (root / n).is_dir()), None)
    has_train = (root / "train").is_dir()
    if test_dir is not None and not has_train and not test_only:
        raise HarnessError(f"{root} holds {test_dir.name}/ but no train/: enough for `harness evaluate` (existing runs, "
                           f"--reference-rows), but training needs train/ as well")
    if test_dir is None or not (has_train or test_only):
        raise HarnessError(f"{root} is not in the pix2pix aligned layout: expected train/ and val/ (or test/) "
                           f"folders of A|B images; found {_children(root)}")
    listing: Listing = {}
    parts = (("train", root / "train"),) if has_train else ()
    for split, folder in parts + (("test", test_dir),):
        files = _images_in(folder)
        for path in files[:1]:  # A|B images are twice as wide as high; check one per folder
            size = read_size(path)
            if size[0] != 2 * size[1]:
                raise HarnessError(f"{path} is {size[0]}x{size[1]}; aligned A|B images must be twice as wide as high")
        listing[split] = {"A": [ImageRef(p.stem, p, "left") for p in files],
                          "B": [ImageRef(p.stem, p, "right") for p in files]}
    return listing


def read_webcam(root: Path, domains: tuple[str, ...]) -> Listing:
    listing: Listing = {}
    for split, folder in (("train", "training"), ("test", "test")):
        if not (root / folder).is_dir():
            raise HarnessError(f"{root} is not in the webcam layout: expected training/ and test/ with "
                               f"{domains[0]}/ and {domains[1]}/ inside; found {_children(root)}")
        listing[split] = {side: _refs(root / folder / name) for side, name in zip("AB", domains)}
    return listing


def read_size(path: Path) -> tuple[int, int]:
    """Width and height from the header, or an error naming the file."""
    require_regular_file(path)
    try:
        with Image.open(path) as img:
            return img.size
    except (UnidentifiedImageError, *IMAGE_ERRORS) as exc:
        raise HarnessError(f"cannot read image {path}: {str(exc).splitlines()[0] if str(exc) else exc}") from exc


def check_headers(listing: Listing) -> None:
    """Open every image's header once, so a broken file stops the run before training."""
    for domains in listing.values():
        for refs in domains.values():
            for ref in refs:
                read_size(ref.path)


def _children(root: Path) -> str:
    if not root.is_dir():
        return "no such folder"
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir() if not p.name.startswith("."))
    return ", ".join(names[:12]) + (" ..." if len(names) > 12 else "") if names else "nothing"
