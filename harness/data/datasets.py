"""Torch data sets over a split: training items with seeded augmentation, and test images.

Randomness is explicit: each epoch's order comes from (run seed, epoch), and each item
carries its own augmentation seed. So the data stream does not depend on worker count, and
a resumed run continues with exactly the items an uninterrupted run would have seen.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from harness.data.layouts import ImageRef
from harness.data.splits import Split
from harness.errors import HarnessError
from harness.safety.images import IMAGE_ERRORS
from harness.safety.paths import require_regular_file
from harness.tasks import ImageSpec


def load_image(ref: ImageRef) -> Image.Image:
    """Decode an image (its left or right half for aligned A|B files) as RGB, naming the file on failure."""
    require_regular_file(ref.path)
    try:
        with Image.open(ref.path) as img:
            img = img.convert("RGB")
    except (UnidentifiedImageError, *IMAGE_ERRORS) as exc:
        raise HarnessError(f"cannot decode image {ref.path}: {exc}") from exc
    if ref.half is not None:
        w, h = img.size
        box = (0, 0, w // 2, h) if ref.half == "left" else (w // 2, 0, w, h)
        img = img.crop(box)
    return img


def to_tensor(img: Image.Image) -> torch.Tensor:
    """uint8 HWC image → float CHW in [-1, 1]."""
    arr = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1)
    return arr.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float → uint8, rounding to nearest (one quantisation rule for every method)."""
    return ((images.detach().float().clamp(-1, 1) + 1.0) * 127.5).round_().to(torch.uint8)


@dataclass(frozen=True)
class Augment:
    """Resize to load size, random crop, optional flip; parameters shared by a pair."""

    spec: ImageSpec

    def params(self, rng: random.Random) -> tuple[int, int, bool]:
        slack = self.spec.load_size - self.spec.crop_size
        x = rng.randint(0, slack) if slack > 0 else 0
        y = rng.randint(0, slack) if slack > 0 else 0
        flip = self.spec.flip and rng.random() < 0.5
        return x, y, flip

    def __call__(self, img: Image.Image, params: tuple[int, int, bool]) -> torch.Tensor:
        x, y, flip = params
        size, crop = self.spec.load_size, self.spec.crop_size
        img = img.resize((size, size), Image.BICUBIC).crop((x, y, x + crop, y + crop))
        if flip:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        return to_tensor(img)


def epoch_items(n_a: int, n_b: int, paired: bool, seed: int, epoch: int,
                limit: Optional[int] = None) -> list[tuple[int, int, int]]:
    """(index in A, index in B, augmentation seed) for every iteration of one epoch.

    Unpaired: an epoch is max(|A|, |B|) iterations over a shuffled range, A cycling and B drawn
    at random, as the CycleGAN code does. Paired: a shuffled pass over the pairs.
    """
    rng = random.Random(f"epoch:{seed}:{epoch}")
    length = n_a if paired else max(n_a, n_b)
    order = list(range(length))
    rng.shuffle(order)
    if limit is not None:
        order = order[:limit]
    items = []
    for i in order:
        a = i % n_a
        b = a if paired else rng.randrange(n_b)
        items.append((a, b, rng.getrandbits(63)))
    return items


def view_record(params: tuple[int, int, bool], load_size: int) -> torch.Tensor:
    """Where a training crop sits in its image: (x, y, flipped, load size) as int64.

    Methods that keep per-image state in the full image's frame (ASGIT's attention memory) map it
    through each batch's crop and flip with this; the images themselves do not depend on it.
    """
    x, y, flip = params
    return torch.tensor([x, y, int(flip), load_size], dtype=torch.int64)


class TrainSet(Dataset):
    """Items are (index A, index B, seed) tuples from `epoch_items`.

    Each item also carries `A_view`/`B_view` (`view_record`); drawing them takes nothing from the
    item's random stream, so the images are the same as without them.
    """

    def __init__(self, split: Split, spec: ImageSpec, paired: bool):
        if paired and not split.paired_ids("train"):
            raise HarnessError("a paired method needs aligned A|B training pairs; this task's data has none")
        self.a, self.b = split.train["A"], split.train["B"]
        self.augment = Augment(spec)
        self.paired = paired

    def __len__(self) -> int:
        return len(self.a) if self.paired else max(len(self.a), len(self.b))

    def __getitem__(self, item: tuple[int, int, int]) -> dict:
        ia, ib, seed = item
        rng = random.Random(seed)
        params_a = self.augment.params(rng)
        params_b = params_a if self.paired else self.augment.params(rng)
        ref_a, ref_b = self.a[ia], self.b[ib]
        load = self.augment.spec.load_size
        return {"A": self.augment(load_image(ref_a), params_a), "B": self.augment(load_image(ref_b), params_b),
                "A_id": ref_a.id, "B_id": ref_b.id,
                "A_view": view_record(params_a, load), "B_view": view_record(params_b, load)}


class TestSet(Dataset):
    """All test images of one domain side, resized to the crop size (no crop, no flip)."""

    def __init__(self, refs: list[ImageRef], spec: ImageSpec):
        self.refs = refs
        self.size = spec.crop_size

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, index: int) -> dict:
        ref = self.refs[index]
        img = load_image(ref).resize((self.size, self.size), Image.BICUBIC)
        return {"image": to_tensor(img), "id": ref.id}


def test_batches(refs: list[ImageRef], spec: ImageSpec, batch_size: int = 16):
    """Test images of one side as [-1, 1] batches, lazily (for methods' own test-time measurements)."""
    dataset = TestSet(refs, spec)
    for start in range(0, len(dataset), batch_size):
        yield torch.stack([dataset[i]["image"] for i in range(start, min(start + batch_size, len(dataset)))])


def collate(items: list[dict]) -> dict:
    out: dict = {}
    for key in items[0]:
        values = [it[key] for it in items]
        out[key] = torch.stack(values) if isinstance(values[0], torch.Tensor) else values
    return out
