"""The image sets evaluation reads: a run's translations, a task's real test images, plain folders.

Every set yields `(id, uint8 CHW tensor)` in a fixed order. Real test images are resized to
the run's test size exactly as `TestSet` does before translation (bicubic to the crop size,
then the harness's one rounding rule, `to_uint8`), so generated and real images reach the
feature extractor through the same quantisation.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from harness.data.datasets import TestSet, to_uint8
from harness.data.layouts import IMAGE_EXTENSIONS, ImageRef
from harness.errors import HarnessError
from harness.io import update_pixels_digest
from harness.tasks import ImageSpec

LOSSY = {".jpg", ".jpeg", ".webp"}


def pixels_digest(images: Iterable[tuple[str, torch.Tensor]]) -> str:
    digest = hashlib.sha256()
    for image_id, img in images:
        update_pixels_digest(digest, image_id, img)
    return digest.hexdigest()


@dataclass
class ImageSet:
    """A named, ordered set of uint8 images. `cache_key` identifies its content without reading it
    (real data: manifest and split digests); None means: hash the pixels (generated images).

    Each image is decoded once per set (kept in memory): hashing a set for its cache key, its
    feature pass and its segmentation read the same tensors. An evaluation holds at most its four
    test sets (500 images of 256 px are 98 MB)."""

    name: str
    ids: list[str]
    load: Callable[[str], torch.Tensor]
    cache_key: Optional[dict[str, Any]] = None
    notes: dict[str, Any] = field(default_factory=dict)
    _decoded: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def image(self, image_id: str) -> torch.Tensor:
        if image_id not in self._decoded:
            self._decoded[image_id] = self.load(image_id)
        return self._decoded[image_id]

    def __iter__(self) -> Iterator[tuple[str, torch.Tensor]]:
        for image_id in self.ids:
            yield image_id, self.image(image_id)

    def subset(self, ids: list[str], name: str) -> "ImageSet":
        return ImageSet(name, list(ids), self.image, None, dict(self.notes))

    def content_digest(self) -> str:
        """sha256 over ids and pixels (`pixels_digest`, the recipe of the translation digests)."""
        return pixels_digest(self)


def read_uint8(path: Path) -> torch.Tensor:
    """Decode an image file as RGB uint8 CHW, naming the file on failure."""
    try:
        with Image.open(path) as img:
            arr = np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise HarnessError(f"cannot decode image {path}: {exc}") from exc
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def real_test_set(refs: list[ImageRef], image: ImageSpec, name: str, cache_key: dict[str, Any]) -> ImageSet:
    """The real test images of one domain side at the run's test size, quantised like translations."""
    dataset = TestSet(refs, image)
    index = {ref.id: i for i, ref in enumerate(refs)}

    def load(image_id: str) -> torch.Tensor:
        return to_uint8(dataset[index[image_id]]["image"])

    return ImageSet(name, [r.id for r in refs], load, cache_key, {"resize": f"bicubic to {image.crop_size}, round"})


def translations_set(folder: Path, ids: list[str], name: str) -> ImageSet:
    """A run's PNG translations of one direction, in the order of the source test images."""
    missing = [i for i in ids if not (folder / f"{i}.png").is_file()]
    if missing:
        raise HarnessError(f"{folder} lacks {len(missing)} of {len(ids)} translations (e.g. {missing[0]}.png); "
                           "re-run the translation stage (`harness run --force` or `harness resume`)")
    return ImageSet(name, list(ids), lambda image_id: read_uint8(folder / f"{image_id}.png"))


def folder_set(folder: Path, name: Optional[str] = None) -> ImageSet:
    """Every image in a plain folder (sorted by name), read as is: the user owns resizing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise HarnessError(f"{folder} is not a folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise HarnessError(f"{folder} holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
    by_id = {p.name: p for p in files}
    lossy = sorted({p.suffix.lower() for p in files} & LOSSY)
    notes = {"folder": str(folder)}
    if lossy:
        notes["warning"] = f"lossy formats {', '.join(lossy)} in {folder}: scores shift with compression"
    return ImageSet(name or folder.name, list(by_id), lambda image_id: read_uint8(by_id[image_id]), None, notes)
