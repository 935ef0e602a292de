"""What metric functions see: one run's (or one folder pair's) images, features and segmenter.

Everything expensive is lazy and memoised per evaluation: the feature extractor is built on
first use (so a missing Inception file only affects KID), features go through the on-disk
cache, and the segmenter loads once.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from harness.data.demo import cache_dir
from harness.devices import resolve_device
from harness.data.prepare import PreparedData
from harness.evaluation.features import FeatureCache, FeatureExtractor, build_extractor, features_for
from harness.evaluation.images import ImageSet, real_test_set, translations_set
from harness.evaluation.kid import KidOptions
from harness.tasks import ImageSpec, TaskSpec

PROTOCOL = "kid-v1/fcn-v1"


@dataclass(frozen=True)
class EvalOptions:
    """Every evaluation choice; written into the result's metrics section."""

    extractor: str = "inception-v3-compat"
    inception_weights: Optional[str] = None
    kid: KidOptions = field(default_factory=KidOptions)
    segmenter: str = "espnet-p2q8"
    segmenter_weights: Optional[str] = None
    void_handling: str = "exclude_void_logit"
    metrics: Optional[tuple[str, ...]] = None  # None: the task's own metric list
    label_side: Optional[str] = None  # None: the side whose domain is called "label"
    device: str = "auto"
    batch_size: int = 32
    cache_root: Optional[str] = None  # real-image features; None: <harness cache>/features

    def record(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for key in ("inception_weights", "segmenter_weights", "cache_root"):
            out.pop(key)  # paths are machine-specific; the weights hashes are in each entry
        return out


class EvalContext:
    """Images and lazily built tools for one evaluation."""

    def __init__(self, options: EvalOptions, task: Optional[TaskSpec] = None, prepared: Optional[PreparedData] = None,
                 image: Optional[ImageSpec] = None, run_dir: Optional[Path] = None):
        self.options = options
        self.task, self.prepared, self.image, self.run_dir = task, prepared, image, run_dir
        self.device = resolve_device(options.device)
        real_root = Path(options.cache_root) if options.cache_root else cache_dir() / "features"
        self.real_cache = FeatureCache(real_root)
        self.generated_cache = FeatureCache(run_dir / "features" if run_dir else real_root / "generated")
        self._extractor: Optional[FeatureExtractor] = None
        self._segmenter: Any = None
        self._features: dict[int, torch.Tensor] = {}
        self._sets: dict[str, ImageSet] = {}
        self.ceilings: dict[str, Any] = {}
        self.memo: dict[str, Any] = {}  # per-evaluation results of metric families (e.g. segmentations)

    # -- images ---------------------------------------------------------------------------
    def real(self, side: str) -> ImageSet:
        """The real test images of domain side A or B at the run's test size."""
        name = f"real-{side}"
        if name not in self._sets:
            assert self.prepared is not None and self.image is not None and self.task is not None
            key = {"manifest_digest": self.prepared.manifest.digest, "split_digest": self.prepared.split.digest,
                   "side": side, "domain": self.task.domain(side), "image_size": self.image.crop_size,
                   "resize": "bicubic+round"}
            self._sets[name] = real_test_set(self.prepared.split.test[side], self.image,
                                             f"{self.task.domain(side)} (real)", key)
        return self._sets[name]

    def generated(self, direction: str) -> ImageSet:
        name = f"gen-{direction}"
        if name not in self._sets:
            assert self.prepared is not None and self.run_dir is not None
            ids = [r.id for r in self.prepared.split.test[direction[0]]]
            self._sets[name] = translations_set(self.run_dir / "translations" / direction, ids, direction)
        return self._sets[name]

    # -- tools ----------------------------------------------------------------------------
    def extractor(self) -> FeatureExtractor:
        """Raises `WeightsUnavailable` when the extractor's weights cannot be found."""
        if self._extractor is None:
            self._extractor = build_extractor(self.options.extractor, self.options.inception_weights, self.device,
                                              self.options.batch_size)
        return self._extractor

    def features(self, images: ImageSet) -> torch.Tensor:
        if id(images) not in self._features:
            cache = self.real_cache if images.cache_key is not None else self.generated_cache
            self._features[id(images)] = features_for(images, self.extractor(), cache)
        return self._features[id(images)]

    def segmenter(self) -> Any:
        if self._segmenter is None:
            from harness.registry import SEGMENTERS
            factory = SEGMENTERS.get(self.options.segmenter, where="--segmenter")
            self._segmenter = factory(self.options.segmenter_weights, self.device, self.options.void_handling)
        return self._segmenter
