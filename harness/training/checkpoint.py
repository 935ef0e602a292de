"""Full-state checkpoints: networks, optimizers, method extras, RNG states and position.

Written atomically (temporary file, fsync, rename), so an interrupted write leaves the last
good checkpoint in place. Loading restores everything a resumed run needs to continue
exactly where it stopped.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from harness.io import atomic_path
from harness.training.method import Method

CHECKPOINT_NAME = "latest.pt"


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, method: Method, position: dict[str, int], extra: Optional[dict] = None) -> None:
    """Save the whole training state; `position` holds step, epoch and iteration within the epoch."""
    payload = {
        "format": 1,
        "position": dict(position),
        "model": method.state_dict(),
        "optimizers": {name: opt.state_dict() for name, opt in method.optimizers.items()},
        "method_extra": method.extra_state(),
        "rng": rng_state(),
        "trainer": extra or {},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: Path, method: Method) -> dict[str, Any]:
    """Restore `method` (networks, optimizers, extras) and the RNG states; return the payload."""
    # Load on the CPU: RNG states must stay CPU tensors; parameters and optimizer states are
    # copied onto the method's device by load_state_dict.
    payload = torch.load(path, map_location="cpu", weights_only=False)
    method.load_state_dict(payload["model"])
    missing = set(method.optimizers) ^ set(payload["optimizers"])
    if missing:
        raise ValueError(f"checkpoint {path} optimizers do not match the method's: {sorted(missing)}")
    for name, opt in method.optimizers.items():
        opt.load_state_dict(payload["optimizers"][name])
    method.load_extra_state(payload["method_extra"])
    set_rng_state(payload["rng"])
    return payload
