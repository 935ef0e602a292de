"""Task specs as data: one YAML file per task in this folder, registered on import.

A task names its two domains (A and B), how each direction is called, which settings it
supports (unsupervised needs two domains, supervised needs pairs), its image pipeline,
its split rule, which metrics its tables use and where its data comes from. Its `version`
is the protocol version: results of different versions never share a table.
"""
from __future__ import annotations

import dataclasses

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

from harness.config import from_dict, load_yaml
from harness.registry import TASKS

Layout = Literal["cyclegan", "aligned", "webcam", "demo"]
Setting = Literal["unsupervised", "supervised"]
DIRECTIONS = ("A2B", "B2A")


@dataclass(frozen=True)
class ImageSpec:
    """Training pipeline (resize to load_size, random crop to crop_size, flip) and test size."""

    load_size: int = 286
    crop_size: int = 256
    flip: bool = True
    channels: int = 3


@dataclass(frozen=True)
class SplitSpec:
    """`official`: the release's own train/test folders. `random`: a seeded split of all images."""

    kind: Literal["official", "random"] = "official"
    test_fraction: float = 0.2
    seed: int = 0


@dataclass(frozen=True)
class SourceSpec:
    """Where the data comes from: a folder name under the data root, and how to get it."""

    folder: str = ""
    manifest_digest: Optional[str] = None
    url: Optional[str] = None
    huggingface: Optional[str] = None
    instructions: str = ""


@dataclass(frozen=True)
class TaskSpec:
    name: str
    description: str
    version: int
    domains: tuple[str, ...]
    layout: Layout
    settings: tuple[Setting, ...] = ("unsupervised",)
    direction_names: dict = field(default_factory=dict)
    image: ImageSpec = field(default_factory=ImageSpec)
    supervised_image: Optional[ImageSpec] = None
    split: SplitSpec = field(default_factory=SplitSpec)
    source: SourceSpec = field(default_factory=SourceSpec)
    metrics: tuple[str, ...] = ("target_kid",)
    has_labels: bool = False
    notes: str = ""

    @property
    def paired(self) -> bool:
        return "supervised" in self.settings

    def direction_name(self, direction: str) -> str:
        """Human name of a direction, e.g. `label2photo` for Cityscapes B2A."""
        return self.direction_names.get(direction, direction)

    def image_spec(self, setting: str, image_size: Optional[int] = None) -> ImageSpec:
        """Supervised Cityscapes runs at 128 px in the paper; other settings use `image`. A smaller
        `image_size` (a schedule's, for quick runs) scales the load size with the crop."""
        spec = self.supervised_image if setting == "supervised" and self.supervised_image is not None else self.image
        if image_size is not None and image_size < spec.crop_size:
            spec = dataclasses.replace(spec, crop_size=image_size,
                                       load_size=round(image_size * spec.load_size / spec.crop_size))
        return spec

    def domain(self, side: str) -> str:
        return self.domains[0 if side == "A" else 1]


def load_task_file(path: Path) -> TaskSpec:
    data = load_yaml(path)
    return from_dict(TaskSpec, data, where=str(path))


def _register_builtin() -> None:
    for path in sorted(Path(__file__).parent.glob("*.yaml")):
        spec = load_task_file(path)
        TASKS.register(spec.name, spec, description=spec.description)


_register_builtin()
