"""torch-fidelity's standard Inception-v3 weights: found, or fetched the way torch-fidelity fetches
them, checked by their full sha256, and loaded without running code.

KID and FID are defined on the 2015-12-05 TensorFlow Inception graph that torch-fidelity ships as
`weights-inception-2015-12-05-6726825d.pth`. The harness never substitutes other weights
(torchvision's Inception is a different network).

Search order: an explicit path (`--inception-weights PATH`), `$HARNESS_INCEPTION_WEIGHTS`, then
torch-fidelity's own cache (`torch.hub.get_dir()/checkpoints/<file name>`, i.e.
`$TORCH_HOME/hub/checkpoints/`). When the cache has no file, it is downloaded there from
torch-fidelity's release URL (`$HARNESS_INCEPTION_URL` overrides it, for mirrors and tests) with
`harness.data.download.fetch`: a progress bar, a `.part` file that the next call resumes, and the
final name only once the whole file is there and its sha256 matches; a file with another hash is
deleted. `--offline` / `HARNESS_OFFLINE=1` forbid the download; KID and FID are then recorded as
unavailable with the fix.

The pinned sha256 (`INCEPTION_SHA256`) could not be computed here (no copy of the file on the
development machine); it is the value public repositories record for this exact file name and its
size of 95,628,359 bytes, e.g. the FID documentation of github.com/HyperGAN/HyperGAN, and torch.hub's
file-name convention (the first 8 hex digits, `6726825d`) agrees with it.

torch-fidelity 0.4 loads a weights path with `torch.load(..., weights_only=False)`, which would run
any code a crafted file carries. The harness therefore reads the file itself with
`weights_only=True` (tensors only; anything else is refused) and hands torch-fidelity those tensors
re-serialised in memory (`load_inception_state`, `inception_weights_source`).
"""
from __future__ import annotations

import fcntl
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from harness.io import sha256_file

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
                 "weights-inception-2015-12-05-6726825d.pth")
INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
INCEPTION_BYTES = 95_628_359
ENV_INCEPTION_WEIGHTS = "HARNESS_INCEPTION_WEIGHTS"
ENV_INCEPTION_URL = "HARNESS_INCEPTION_URL"
ENV_OFFLINE = "HARNESS_OFFLINE"
DOWNLOAD_TIMEOUT_S = 60.0


class WeightsUnavailable(Exception):
    """The weights a metric needs are absent or wrong; the message says how to fix it."""


@dataclass(frozen=True)
class WeightsFile:
    path: Path
    sha256: str
    origin: str


def offline() -> bool:
    """True when downloads are forbidden (`--offline` sets `HARNESS_OFFLINE=1` for the process)."""
    return os.environ.get(ENV_OFFLINE, "").strip().lower() not in ("", "0", "false", "no")


def apply_offline_flag(args: object) -> None:
    """`--offline` on a command line: forbid downloads in this process and the ones it starts."""
    if getattr(args, "offline", False):
        os.environ[ENV_OFFLINE] = "1"


def inception_url() -> str:
    return os.environ.get(ENV_INCEPTION_URL) or INCEPTION_URL


def torch_fidelity_cache_path() -> Path:
    import torch.hub
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE


def fix_instructions() -> str:
    return (f"run `harness evaluate RUN_DIR` on a machine with internet (it downloads {inception_url()} into "
            f"{torch_fidelity_cache_path()}), or download that file (sha256 {INCEPTION_SHA256}) yourself and put it "
            f"there, set ${ENV_INCEPTION_WEIGHTS}=PATH or pass --inception-weights PATH; then "
            f"`harness evaluate RUN_DIR` fills in KID and FID")


_hash_memo: dict[tuple[str, int, float], str] = {}
_failed: dict[tuple[str, str], str] = {}  # (destination, url) → why its download failed in this process


def _sha256_memo(path: Path) -> str:
    # Hashing 95 MB takes a while; a run evaluates several metrics with the same file.
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime)
    if key not in _hash_memo:
        _hash_memo[key] = sha256_file(path)
    return _hash_memo[key]


def _mismatch(path: Path, digest: str, origin: str) -> str:
    return (f"Inception weights at {path} ({origin}) have sha256 {digest}, expected {INCEPTION_SHA256} "
            f"(torch-fidelity's {INCEPTION_FILE}); KID and FID are only computed with the standard weights. "
            f"Fix: {fix_instructions()}")


def download_inception_weights(dest: Optional[Path] = None, url: Optional[str] = None) -> WeightsFile:
    """Fetch the weights into `dest` (default: torch-fidelity's cache) and check them; raise
    `WeightsUnavailable` (nothing left under the final name) on any failure."""
    dest = Path(dest) if dest is not None else torch_fidelity_cache_path()
    url = url or inception_url()
    if (str(dest), url) in _failed:  # one try per process: a grid's 15 runs must not each wait for a timeout
        # The same failure gives the same recorded reason in every run (one line per metric on the terminal).
        raise WeightsUnavailable(_failed[(str(dest), url)])
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Parallel runs of a grid may all find the file missing: one downloads, the others wait for it.
    with open(dest.with_name(dest.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if dest.is_file():
                digest = _sha256_memo(dest)
                if digest != INCEPTION_SHA256:
                    raise WeightsUnavailable(_mismatch(dest, digest, "torch-fidelity cache"))
                return WeightsFile(dest, digest, "torch-fidelity cache")
            return _download(dest, url)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _download(dest: Path, url: str) -> WeightsFile:
    from harness.data.download import DownloadInterrupted, _progress_bar, fetch
    from harness.errors import HarnessError
    # The file gets its final name only after the hash check: torch-fidelity and other programs
    # read that name, so it must never hold a partial or foreign file.
    staging = dest.with_name(dest.name + ".download")
    try:
        with _progress_bar(True, INCEPTION_FILE) as bar:
            fetch(url, staging, timeout=DOWNLOAD_TIMEOUT_S, progress=bar)
    except HarnessError as exc:  # unreachable, HTTP error, interrupted (the .part file is kept to resume)
        message = (f"Inception weights not found at {dest} and the download failed: {exc}; "
                   f"fix: {fix_instructions()}")
        if not isinstance(exc, DownloadInterrupted):  # an interrupted download resumes on the next call
            _failed[(str(dest), url)] = message
        raise WeightsUnavailable(message) from exc
    digest = sha256_file(staging)
    if digest != INCEPTION_SHA256:
        staging.unlink(missing_ok=True)
        message = (f"the file downloaded from {url} has sha256 {digest}, expected {INCEPTION_SHA256}; "
                   f"it was deleted. Fix: {fix_instructions()}")
        _failed[(str(dest), url)] = message
        raise WeightsUnavailable(message)
    os.replace(staging, dest)
    return WeightsFile(dest, digest, f"downloaded from {url}")


def locate_inception_weights(explicit: Optional[str | os.PathLike[str]] = None) -> WeightsFile:
    """Return the checked weights file (downloading it into torch-fidelity's cache when allowed),
    or raise `WeightsUnavailable` naming what was tried and the fix."""
    if explicit:
        path, origin = Path(explicit), "--inception-weights"
    elif os.environ.get(ENV_INCEPTION_WEIGHTS):
        path, origin = Path(os.environ[ENV_INCEPTION_WEIGHTS]), f"${ENV_INCEPTION_WEIGHTS}"
    else:
        path, origin = torch_fidelity_cache_path(), "torch-fidelity cache"
    if not path.is_file():
        if origin != "torch-fidelity cache":  # a path the user named is never replaced by a download
            raise WeightsUnavailable(f"Inception weights not found at {path} ({origin}); fix: {fix_instructions()}")
        if offline():
            raise WeightsUnavailable(f"Inception weights not found at {path} ({origin}) and downloads are off "
                                     f"(--offline / {ENV_OFFLINE}=1); fix: {fix_instructions()}")
        return download_inception_weights(path)
    digest = _sha256_memo(path)
    if digest != INCEPTION_SHA256:
        raise WeightsUnavailable(_mismatch(path, digest, origin))
    return WeightsFile(path, digest, origin)


def load_inception_state(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The weights file's state dict, read with `weights_only=True` (a file that holds code is refused)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsUnavailable(f"{path} is not a state dict of tensors")
    return state


def inception_weights_source(path: str | os.PathLike[str]) -> io.BytesIO:
    """What torch-fidelity's loader reads instead of the file: the tensors of a `weights_only` load,
    re-serialised in memory, so its `weights_only=False` load sees nothing but tensors we wrote."""
    buffer = io.BytesIO()
    torch.save(load_inception_state(path), buffer)
    buffer.seek(0)
    return buffer
