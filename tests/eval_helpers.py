"""Test-only evaluation tools: a tiny deterministic feature extractor and a colour segmenter.

The extractor goes through torch-fidelity's feature-extractor API like Inception does, so the
whole KID code path runs in tests without the 95 MB Inception file. Its name marks it as a
test tool and its entries carry `for_leaderboards: false`.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch_fidelity.feature_extractor_base import FeatureExtractorBase

from harness.data.datasets import load_image
from harness.evaluation.features import ExtractorSpec
from harness.evaluation.inception import WeightsFile
from harness.io import sha256_text
from harness.registry import FEATURE_EXTRACTORS, SEGMENTERS

TINY = "test-tiny-pool4x4"
FORWARD_CALLS = {"n": 0}


class TinyPoolFeatures(FeatureExtractorBase):
    """48-d features: the image average-pooled to 4×4 per channel, in [0, 1]."""

    def __init__(self, name, features_list, **kwargs):
        super().__init__(name, features_list)

    @staticmethod
    def get_provided_features_list():
        return ("48",)

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return "48"

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return None

    def forward(self, x):
        assert x.dtype == torch.uint8
        FORWARD_CALLS["n"] += 1
        return (F.adaptive_avg_pool2d(x.float() / 255.0, 4).flatten(1),)


@contextlib.contextmanager
def tiny_extractor() -> Iterator[str]:
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor
    if TINY not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(TINY, TinyPoolFeatures)
    spec = ExtractorSpec(TINY, "48", lambda _path: WeightsFile(None, sha256_text("no weights: pooling"), "test"),
                         leaderboard=False, description="test only")
    FEATURE_EXTRACTORS.register(TINY, spec)
    try:
        yield TINY
    finally:
        FEATURE_EXTRACTORS.unregister(TINY)


class RenderColourSegmenter:
    """Segments demo renders by nearest object colour: disc → class 11, box → class 13, else road."""

    name = "test-render-colours"
    weights = WeightsFile(None, sha256_text("demo render colours"), "test")
    colours = np.array([[250, 170, 30], [70, 130, 80]], dtype=np.float32)
    calls = 0

    def record(self):
        return {"segmenter": self.name, "weights_sha256": self.weights.sha256}

    def predict(self, images: torch.Tensor, size):
        type(self).calls += 1
        x = F.interpolate(images.float(), size=size, mode="nearest").permute(0, 2, 3, 1).numpy()
        d = ((x[..., None, :] - self.colours) ** 2).sum(-1)
        ids = np.where(d.min(-1) < 60.0 ** 2, np.array([11, 13])[d.argmin(-1)], 0)
        return torch.from_numpy(ids)


@contextlib.contextmanager
def render_segmenter() -> Iterator[str]:
    SEGMENTERS.register(RenderColourSegmenter.name, lambda weights, device, void: RenderColourSegmenter())
    try:
        yield RenderColourSegmenter.name
    finally:
        SEGMENTERS.unregister(RenderColourSegmenter.name)


def fake_run(tmp: Path, translate) -> tuple[Path, dict, object]:
    """A run folder for the demo task whose translations are `translate(direction, ref) -> PIL image`."""
    from harness.data.prepare import prepare_data
    from harness.registry import TASKS
    task = TASKS.get("demo")
    prepared = prepare_data(task)
    run_dir = tmp / "demo" / "fake" / "smoke-seed0"
    for direction in ("A2B", "B2A"):
        out = run_dir / "translations" / direction
        out.mkdir(parents=True, exist_ok=True)
        for ref in prepared.split.test[direction[0]]:
            translate(direction, ref).save(out / f"{ref.id}.png")
    result = {"config": {"image": {"load_size": 36, "crop_size": 32, "flip": True, "channels": 3}},
              "directions": {"A2B": "S2R", "B2A": "R2S"}}
    return run_dir, result, prepared


def identity(direction, ref):
    return load_image(ref)


def perfect(direction, ref):
    """The real paired counterpart: the ideal translation."""
    from harness.data.layouts import ImageRef
    return load_image(ImageRef(ref.id, ref.path, "right" if ref.half == "left" else "left"))


def dump(obj) -> str:
    return json.dumps(obj, indent=1, default=str)
