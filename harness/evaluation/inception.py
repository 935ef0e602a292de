"""Locate torch-fidelity's standard Inception-v3 weights, offline, and check them by hash.

KID is defined on the 2015-12-05 TensorFlow Inception graph that torch-fidelity ships as
`weights-inception-2015-12-05-6726825d.pth`. The harness never downloads it and never
substitutes other weights (torchvision's Inception is a different network): when the file
cannot be found, KID is recorded as unavailable with the fix.

Search order: an explicit path (`--inception-weights PATH`), `$HARNESS_INCEPTION_WEIGHTS`,
then torch-fidelity's own cache (`torch.hub.get_dir()/checkpoints/<file name>`, i.e.
`$TORCH_HOME/hub/checkpoints/`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from harness.io import sha256_file

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
                 "weights-inception-2015-12-05-6726825d.pth")
# torch.hub's convention: the file name carries the first 8 hex digits of the file's sha256.
INCEPTION_SHA256_PREFIX = "6726825d"
ENV_INCEPTION_WEIGHTS = "HARNESS_INCEPTION_WEIGHTS"


class WeightsUnavailable(Exception):
    """The weights a metric needs are absent or wrong; the message says how to fix it."""


@dataclass(frozen=True)
class WeightsFile:
    path: Path
    sha256: str
    origin: str


def torch_fidelity_cache_path() -> Path:
    import torch.hub
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE


def fix_instructions() -> str:
    return (f"download {INCEPTION_URL} (sha256 starts with {INCEPTION_SHA256_PREFIX}) on a machine with internet "
            f"and either put it at {torch_fidelity_cache_path()}, set ${ENV_INCEPTION_WEIGHTS}=PATH, or pass "
            f"--inception-weights PATH to `harness run` / `harness evaluate`; then run `harness evaluate RUN_DIR` to fill in KID")


_hash_memo: dict[tuple[str, int, float], str] = {}


def _sha256_memo(path: Path) -> str:
    # Hashing 95 MB takes a while; a run evaluates several metrics with the same file.
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime)
    if key not in _hash_memo:
        _hash_memo[key] = sha256_file(path)
    return _hash_memo[key]


def locate_inception_weights(explicit: Optional[str | os.PathLike[str]] = None) -> WeightsFile:
    """Return the checked weights file, or raise `WeightsUnavailable` naming what was tried and the fix."""
    candidates: list[tuple[Path, str]] = []
    if explicit:
        candidates.append((Path(explicit), "--inception-weights"))
    elif os.environ.get(ENV_INCEPTION_WEIGHTS):
        candidates.append((Path(os.environ[ENV_INCEPTION_WEIGHTS]), f"${ENV_INCEPTION_WEIGHTS}"))
    else:
        candidates.append((torch_fidelity_cache_path(), "torch-fidelity cache"))
    for path, origin in candidates:
        if not path.is_file():
            raise WeightsUnavailable(f"Inception weights not found at {path} ({origin}); fix: {fix_instructions()}")
        digest = _sha256_memo(path)
        if not digest.startswith(INCEPTION_SHA256_PREFIX):
            raise WeightsUnavailable(
                f"Inception weights at {path} ({origin}) have sha256 {digest[:16]}…, not the torch-fidelity file "
                f"({INCEPTION_SHA256_PREFIX}…); KID is only computed with the standard weights. Fix: "
                + fix_instructions())
        return WeightsFile(path, digest, origin)
    raise WeightsUnavailable(f"Inception weights not found; fix: {fix_instructions()}")  # pragma: no cover
