"""ESPNet (Mehta et al., ECCV 2018), p=2, q=8, as a Cityscapes segmenter for the FCN score.

The Caffe FCN-8s of the pix2pix protocol has no PyTorch weights, so the harness scores with the
authors' Cityscapes ESPNet (`sacmehta/ESPNet: pretrained/decoder/espnet_p_2_q_8.pth`, MIT). The
architecture below is written from the paper and the state dict's names and shapes; it loads
all 189 tensors strictly. Its numbers are reported under its own name, never as "FCN-8s".

Input preparation follows the authors' `test/VisualizeResults.py`: BGR channel order, subtract
the per-channel mean and divide by the std (both in 0..255 units, BGR order), resize to
1024×512 (bilinear), then divide by 255. Output: 20 channels = the 19 Cityscapes train ids, then
void. Default `void_handling="exclude_void_logit"`: argmax over the 19 train classes.

On the CPU the forward pass runs with subnormal floats flushed to zero: the released weights hold 18,302
subnormal values (below 1.2e-38), and x86 arithmetic on them is slow enough to make a 512×1024 forward ~11x
slower (8.7 s against 0.78 s for two images, one thread). Flushing changes values only below 1.2e-38; the
predicted classes are the same (tests/test_fcn.py).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import torch
import torch.nn.functional as F
from torch import nn

from harness.evaluation.inception import WeightsFile, WeightsUnavailable
from harness.io import sha256_file
from harness.registry import SEGMENTERS

ESPNET_FILE = "espnet_p_2_q_8.pth"
ESPNET_SHA256 = "343b0e77e8545d36113c4f3efbf1ee349256f25c97c9f9d5ddefe45f2f49763e"
ESPNET_N_TENSORS = 189
ENV_ESPNET_WEIGHTS = "HARNESS_ESPNET_WEIGHTS"
MEAN_BGR = (72.3923111, 82.90893555, 73.15840149)
STD_BGR = (45.3192215, 46.15289307, 44.91483307)
INPUT_HW = (512, 1024)
VOID_HANDLING = ("exclude_void_logit", "void_is_miss")


class ConvBNPReLU(nn.Module):
    def __init__(self, c_in: int, c_out: int, k: int, stride: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, stride, (k - 1) // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=1e-3)
        self.act = nn.PReLU(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class BNPReLU(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, eps=1e-3)
        self.act = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(x))


class Conv(nn.Module):
    """Bias-free convolution with 'same' padding for odd kernels, optionally dilated."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, stride, (k - 1) // 2 * dilation, dilation=dilation, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class ESPModule(nn.Module):
    """Reduce (c1) → split into 5 dilated 3×3 branches (d1..d16) → hierarchical sums → concat.

    `downsample`: c1 is a strided 3×3 and the block ends in its own BN+PReLU (`bn`, `act`);
    otherwise c1 is 1×1, an optional residual is added and `bn` is a BN+PReLU pair.
    """

    def __init__(self, c_in: int, c_out: int, downsample: bool = False, residual: bool = True):
        super().__init__()
        n = c_out // 5
        n1 = c_out - 4 * n  # the first branch takes the remainder
        self.downsample = downsample
        self.residual = residual and not downsample
        self.c1 = Conv(c_in, n, 3, 2) if downsample else Conv(c_in, n, 1, 1)
        self.d1 = Conv(n, n1, 3, 1, 1)
        self.d2 = Conv(n, n, 3, 1, 2)
        self.d4 = Conv(n, n, 3, 1, 4)
        self.d8 = Conv(n, n, 3, 1, 8)
        self.d16 = Conv(n, n, 3, 1, 16)
        if downsample:
            self.bn = nn.BatchNorm2d(c_out, eps=1e-3)
            self.act = nn.PReLU(c_out)
        else:
            self.bn = BNPReLU(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.c1(x)
        s2 = self.d2(r)
        s4 = s2 + self.d4(r)
        s8 = s4 + self.d8(r)
        s16 = s8 + self.d16(r)  # summing before concatenation removes gridding artefacts
        out = torch.cat([self.d1(r), s2, s4, s8, s16], 1)
        if self.residual:
            out = out + x
        return self.act(self.bn(out)) if self.downsample else self.bn(out)


class ESPNetEncoder(nn.Module):
    """ESPNet-C: three levels with input reinforcement (the image average-pooled to each scale)."""

    def __init__(self, classes: int = 20, p: int = 2, q: int = 8):
        super().__init__()
        self.level1 = ConvBNPReLU(3, 16, 3, 2)
        self.b1 = BNPReLU(16 + 3)
        self.level2_0 = ESPModule(16 + 3, 64, downsample=True)
        self.level2 = nn.ModuleList(ESPModule(64, 64) for _ in range(p))
        self.b2 = BNPReLU(128 + 3)
        self.level3_0 = ESPModule(128 + 3, 128, downsample=True)
        self.level3 = nn.ModuleList(ESPModule(128, 128) for _ in range(q))
        self.b3 = BNPReLU(256)
        self.classifier = Conv(256, classes, 1, 1)

    @staticmethod
    def _pool(x: torch.Tensor, times: int) -> torch.Tensor:
        for _ in range(times):
            x = F.avg_pool2d(x, 3, stride=2, padding=1)
        return x

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(level-1 output, level-2 concat, level-3 concat) as the decoder needs them."""
        out0 = self.level1(x)
        cat1 = self.b1(torch.cat([out0, self._pool(x, 1)], 1))
        down2 = self.level2_0(cat1)
        out1 = down2
        for block in self.level2:
            out1 = block(out1)
        cat2 = self.b2(torch.cat([out1, down2, self._pool(x, 2)], 1))
        down3 = self.level3_0(cat2)
        out2 = down3
        for block in self.level3:
            out2 = block(out2)
        cat3 = self.b3(torch.cat([down3, out2], 1))
        return out0, cat2, cat3


class ESPNet(nn.Module):
    """ESPNet-C plus the light decoder (reduce-upsample-merge at 1/8 → 1/4 → 1/2 → full size)."""

    def __init__(self, classes: int = 20, p: int = 2, q: int = 8):
        super().__init__()
        self.encoder = ESPNetEncoder(classes, p, q)
        self.level3_C = Conv(128 + 3, classes, 1, 1)
        self.br = nn.BatchNorm2d(classes, eps=1e-3)
        self.conv = ConvBNPReLU(16 + classes, classes, 3, 1)
        self.up_l3 = nn.Sequential(nn.ConvTranspose2d(classes, classes, 2, stride=2, bias=False))
        self.combine_l2_l3 = nn.Sequential(BNPReLU(2 * classes), ESPModule(2 * classes, classes, residual=False))
        self.up_l2 = nn.Sequential(nn.ConvTranspose2d(classes, classes, 2, stride=2, bias=False), BNPReLU(classes))
        self.classifier = nn.ConvTranspose2d(classes, classes, 2, stride=2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out0, cat2, cat3 = self.encoder.features(x)
        l3 = self.up_l3(self.br(self.encoder.classifier(cat3)))
        l2 = self.up_l2(self.combine_l2_l3(torch.cat([self.level3_C(cat2), l3], 1)))
        return self.classifier(self.conv(torch.cat([l2, out0], 1)))


def default_espnet_path() -> Path:
    from harness.data.prepare import ENV_DATA_ROOT, default_data_roots
    roots = ([Path(os.environ[ENV_DATA_ROOT])] if os.environ.get(ENV_DATA_ROOT) else []) + default_data_roots()
    for root in roots:
        if (root / "weights" / ESPNET_FILE).is_file():
            return root / "weights" / ESPNET_FILE
    return roots[0] / "weights" / ESPNET_FILE


def locate_espnet_weights(explicit: Optional[str | os.PathLike[str]] = None) -> WeightsFile:
    """The checked ESPNet file: explicit path, `$HARNESS_ESPNET_WEIGHTS`, then `weights/` in
    `$HARNESS_DATA_ROOT` or the default data roots."""
    if explicit:
        path, origin = Path(explicit), "--segmenter-weights"
    elif os.environ.get(ENV_ESPNET_WEIGHTS):
        path, origin = Path(os.environ[ENV_ESPNET_WEIGHTS]), f"${ENV_ESPNET_WEIGHTS}"
    else:
        path, origin = default_espnet_path(), "the shared data folder"
    fix = (f"fix: get sacmehta/ESPNet pretrained/decoder/{ESPNET_FILE} (sha256 {ESPNET_SHA256[:16]}…) and put it in "
           f"<data root>/weights/, or pass --segmenter-weights PATH / set ${ENV_ESPNET_WEIGHTS}")
    if not path.is_file():
        raise WeightsUnavailable(f"ESPNet weights not found at {path} ({origin}); {fix}")
    digest = sha256_file(path)
    if digest != ESPNET_SHA256:
        raise WeightsUnavailable(f"ESPNet weights at {path} have sha256 {digest[:16]}…, not {ESPNET_SHA256[:16]}…; {fix}")
    return WeightsFile(path, digest, origin)


def load_espnet(path: str | os.PathLike[str]) -> ESPNet:
    """Build the network and load the authors' state dict strictly (weights_only)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if len(state) != ESPNET_N_TENSORS:
        raise ValueError(f"{path} holds {len(state)} tensors, expected {ESPNET_N_TENSORS}")
    net = ESPNet(classes=20, p=2, q=8)
    net.load_state_dict(state, strict=True)
    return net.eval()


@contextmanager
def subnormals_flushed(device: torch.device) -> Iterator[None]:
    """CPU arithmetic with subnormal floats read and written as zero, inside the block only (the harness turns
    it on nowhere else, so leaving it means turning it off); nothing changes on other devices."""
    if device.type != "cpu" or not torch.set_flush_denormal(True):  # False where the CPU cannot
        yield
        return
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


@dataclass
class ESPNetSegmenter:
    """uint8 RGB images → Cityscapes train ids at a requested size."""

    net: ESPNet
    weights: WeightsFile
    device: torch.device
    void_handling: str = "exclude_void_logit"
    batch_size: int = 4
    name: str = "espnet-p2q8"
    label: str = "ESPNet p2q8"  # how tables name its scores: "FCN-score (ESPNet p2q8)", never "FCN-8s"

    def __post_init__(self) -> None:
        if self.void_handling not in VOID_HANDLING:
            raise ValueError(f"void_handling must be one of {', '.join(VOID_HANDLING)}")
        self.net = self.net.to(self.device).eval()
        self._mean = torch.tensor(MEAN_BGR, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(STD_BGR, device=self.device).view(1, 3, 1, 1)

    def record(self) -> dict[str, Any]:
        return {"segmenter": self.name, "segmenter_label": self.label, "weights_sha256": self.weights.sha256,
                "void_handling": self.void_handling, "input": "BGR, (x-mean)/std, bilinear to 512x1024, /255; logits bilinear to the label size"}

    @torch.no_grad()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """B×3×H×W uint8 RGB → B×20×512×1024 logits."""
        x = images.to(self.device).flip(1).float()  # RGB → BGR, as cv2.imread gives
        x = (x - self._mean) / self._std
        x = F.interpolate(x, size=INPUT_HW, mode="bilinear", align_corners=False) / 255.0
        with subnormals_flushed(self.device):
            return self.net(x)

    @torch.no_grad()
    def predict(self, images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """B×H×W train ids (int64) at `size`; with `void_is_miss` a void prediction is 19 (a miss)."""
        outs = []
        for start in range(0, len(images), self.batch_size):
            small = self.logits(images[start:start + self.batch_size])
            if self.void_handling == "exclude_void_logit":
                small = small[:, :19]
            # upsampled one image at a time: 20 full-size (1024x2048) logit maps are 160 MB each
            for one in small.split(1):
                outs.append(F.interpolate(one, size=size, mode="bilinear", align_corners=False).argmax(1).cpu())
        return torch.cat(outs)


def build_espnet_segmenter(weights_path: Optional[str], device: torch.device, void_handling: str = "exclude_void_logit"
                           ) -> ESPNetSegmenter:
    weights = locate_espnet_weights(weights_path)
    return ESPNetSegmenter(load_espnet(weights.path), weights, device, void_handling)


SEGMENTERS.register("espnet-p2q8", build_espnet_segmenter,
                    description="ESPNet p=2,q=8 Cityscapes (sacmehta/ESPNet, MIT); scores are 'ESPNet-score', "
                                "not FCN-8s")
