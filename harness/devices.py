"""Which torch device a `--device` choice means: shared by training and evaluation (a low layer)."""
from __future__ import annotations

import torch

from harness.errors import UsageError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(choice: str = "auto") -> torch.device:
    """`auto` picks CUDA when available; `cuda` without a CUDA device is a usage error."""
    if choice not in DEVICE_CHOICES:
        raise UsageError(f"--device must be auto, cpu or cuda, not {choice!r}")
    if choice == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for, but torch sees no CUDA device (use --device auto or cpu)")
    use_cuda = choice == "cuda" or (choice == "auto" and torch.cuda.is_available())
    # no index: the current device (a data-parallel rank sets its own before any CUDA work)
    return torch.device("cuda") if use_cuda else torch.device("cpu")
