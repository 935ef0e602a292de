"""Feature extraction through torch-fidelity's feature-extractor API, with an on-disk cache.

Extractors are registered in `harness.registry.FEATURE_EXTRACTORS` as `ExtractorSpec`s naming a
torch-fidelity extractor, its layer and how its weights are found. The standard one is
torch-fidelity's `inception-v3-compat` (2048-d pool features, KID's definition); tests register a
small deterministic extractor that can never produce a leaderboard number.

Cache: real-image features are keyed by (manifest digest, split digest, domain side, image
size, extractor, layer, weights sha256) and live in the harness cache, so a second evaluation
of any run on the same data computes no Inception pass for real images. Generated-image
features live in the run folder, keyed by a digest of the images' pixels.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from tqdm import tqdm

from harness.evaluation.images import ImageSet
from harness.evaluation.inception import WeightsFile, locate_inception_weights
from harness.io import atomic_path, sha256_text
from harness.registry import FEATURE_EXTRACTORS

log = logging.getLogger("harness.evaluation")
CACHE_FORMAT = 1


@dataclass(frozen=True)
class ExtractorSpec:
    """A registered feature extractor: torch-fidelity name, layer, and a weights resolver.

    `resolve_weights(explicit_path)` returns a `WeightsFile` or raises `WeightsUnavailable`.
    `leaderboard` is False for test-only extractors.
    """

    name: str
    layer: str
    resolve_weights: Callable[[Optional[str]], WeightsFile]
    leaderboard: bool = True
    description: str = ""


FEATURE_EXTRACTORS.register(
    "inception-v3-compat",
    ExtractorSpec("inception-v3-compat", "2048", locate_inception_weights, True,
                  "torch-fidelity's Inception-v3 (2015-12-05 TF graph), 2048-d pool features"),
    description="torch-fidelity Inception-v3, 2048-d pool features (KID's definition)")


@dataclass
class FeatureExtractor:
    """A built extractor with its weights, the device and batch size it runs with, and a call counter."""

    spec: ExtractorSpec
    weights: WeightsFile
    device: torch.device
    batch_size: int = 32
    calls: int = 0
    _module: Any = field(default=None, repr=False)

    def _build(self) -> Any:
        if self._module is None:
            from torch_fidelity.utils import create_feature_extractor

            from harness.evaluation.inception import inception_weights_source
            # torch-fidelity would torch.load the path with weights_only=False; it gets tensors we
            # loaded with weights_only=True instead (see harness.evaluation.inception).
            source = inception_weights_source(self.weights.path) if self.weights.path else None
            self._module = create_feature_extractor(
                self.spec.name, [self.spec.layer], cuda=False, verbose=False,
                feature_extractor_weights_path=source)
            self._module.to(self.device)
        return self._module

    def record(self) -> dict[str, Any]:
        return {"extractor": self.spec.name, "layer": self.spec.layer, "weights_sha256": self.weights.sha256}

    @torch.no_grad()
    def __call__(self, images: ImageSet) -> torch.Tensor:
        """N×D float64 features of every image of the set, in its order."""
        module = self._build()
        self.calls += 1
        out: list[torch.Tensor] = []
        batch: list[torch.Tensor] = []

        def flush() -> None:
            if batch:
                feats = module(torch.stack(batch).to(self.device))
                out.append(feats[0].detach().to("cpu", torch.float64).reshape(len(batch), -1))
                batch.clear()

        for _, img in tqdm(images, total=len(images), desc=f"features {images.name}", unit="img", disable=None,
                           leave=False):
            if img.dtype != torch.uint8:
                raise TypeError("feature extractors take uint8 images")
            # torch-fidelity takes any size, but one batch needs one size (plain folders may mix them).
            if batch and (img.shape != batch[0].shape or len(batch) == self.batch_size):
                flush()
            batch.append(img)
        flush()
        return torch.cat(out) if out else torch.zeros(0, 0, dtype=torch.float64)


def build_extractor(name: str, explicit_weights: Optional[str], device: torch.device,
                    batch_size: int = 32) -> FeatureExtractor:
    """Resolve the weights (raises `WeightsUnavailable`) and return a lazily built extractor."""
    spec: ExtractorSpec = FEATURE_EXTRACTORS.get(name, where="feature extractor")
    return FeatureExtractor(spec, spec.resolve_weights(explicit_weights), device, batch_size)


class FeatureCache:
    """Feature matrices on disk, one file per content key, written atomically."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    def path_for(self, key: dict[str, Any]) -> Path:
        text = json.dumps({"format": CACHE_FORMAT, **key}, sort_keys=True)
        return self.root / f"{key.get('kind', 'features')}-{sha256_text(text)[:32]}.pt"

    def get(self, key: dict[str, Any], compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        path = self.path_for(key)
        if path.is_file():
            try:
                payload = torch.load(path, map_location="cpu", weights_only=True)
                if payload.get("key") == json.loads(json.dumps(key)):
                    self.hits += 1
                    return payload["features"]
            except Exception as exc:  # a damaged cache file is recomputed, never trusted
                log.warning("ignoring unreadable feature cache %s: %s", path, exc)
        self.misses += 1
        features = compute()
        with atomic_path(path) as tmp:
            torch.save({"key": key, "features": features}, tmp)
        return features


def features_for(images: ImageSet, extractor: FeatureExtractor, cache: FeatureCache) -> torch.Tensor:
    """Features of an image set through the cache (content key from `cache_key` or the pixels)."""
    content = images.cache_key if images.cache_key is not None else {"pixels_sha256": images.content_digest()}
    key = {"kind": "real" if images.cache_key is not None else "generated", **content,
           "n": len(images), **extractor.record()}
    return cache.get(key, lambda: extractor(images))
