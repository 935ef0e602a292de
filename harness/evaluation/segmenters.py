"""A user-supplied Cityscapes segmenter by path: `--segmenter torchscript --segmenter-weights FILE.pt`.

The file is a TorchScript module that takes B×3×H×W **uint8 RGB** images and returns B×C×h×w
logits whose channels 0..18 are the Cityscapes train ids (extra channels, e.g. void, are
ignored under `exclude_void_logit` and count as misses under `void_is_miss`). The module does
its own normalisation and resizing; the harness resizes the logits to the label size
(bilinear) and records the file's sha256 and the segmenter name `torchscript:<file name>`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
import torch.nn.functional as F

from harness.evaluation.inception import WeightsFile, WeightsUnavailable
from harness.io import sha256_file
from harness.registry import SEGMENTERS


@dataclass
class TorchScriptSegmenter:
    module: Any
    weights: WeightsFile
    device: torch.device
    void_handling: str = "exclude_void_logit"

    @property
    def name(self) -> str:
        return f"torchscript:{self.weights.path.name}"

    def record(self) -> dict[str, Any]:
        return {"segmenter": self.name, "segmenter_label": f"TorchScript {self.weights.path.name}",
                "weights_sha256": self.weights.sha256, "void_handling": self.void_handling,
                "input": "uint8 RGB to the user's TorchScript module; logits bilinear to the label size"}

    @torch.no_grad()
    def predict(self, images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        logits = self.module(images.to(self.device)).float()
        if logits.dim() != 4 or logits.shape[1] < 19:
            raise ValueError(f"{self.weights.path} returned shape {tuple(logits.shape)}; expected B×C×h×w, C >= 19")
        logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        if self.void_handling == "exclude_void_logit":
            logits = logits[:, :19]
        return logits.argmax(1).cpu()


def build_torchscript_segmenter(weights_path: Optional[str], device: torch.device,
                                void_handling: str = "exclude_void_logit") -> TorchScriptSegmenter:
    if not weights_path:
        raise WeightsUnavailable("--segmenter torchscript needs --segmenter-weights FILE.pt (a TorchScript module)")
    path = Path(weights_path)
    if not path.is_file():
        raise WeightsUnavailable(f"segmenter file {path} not found")
    module = torch.jit.load(str(path), map_location=device).eval()
    return TorchScriptSegmenter(module, WeightsFile(path, sha256_file(path), "--segmenter-weights"), device,
                                void_handling)


SEGMENTERS.register("torchscript", build_torchscript_segmenter,
                    description="user-supplied TorchScript Cityscapes segmenter (--segmenter-weights FILE.pt)")
