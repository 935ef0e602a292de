"""Checks of a checkpoint before and after it is loaded: a plain file of sane size, its recorded digest,
the payload's structure, and tensors that fit the method (names, shapes, dtypes, finite values).

Each check fails with one line naming the file, the first thing wrong and the fix, instead of a
traceback from deep inside torch or a silent resume from wrong weights.

Integrity: `<checkpoint>.sha256` beside each checkpoint lists the digests it may have (the one being
written and the one it replaces, so a kill between the two writes never makes a good file look
damaged); a flipped byte anywhere is caught on load. Checkpoints written before the digest file are
checked with the CRC32 of every record of their zip archive.
"""
from __future__ import annotations

import math
import os
import stat
import zipfile
from pathlib import Path
from typing import Any, Optional

import torch

from harness.errors import HarnessError
from harness.io import sha256_file, write_text

DIGEST_SUFFIX = ".sha256"
# torch.save stores records uncompressed: the sum of the declared sizes never exceeds the archive by more
# than its headers. A larger total means compressed records (not torch.save's), e.g. a 9 MB file that
# would inflate to gigabytes in memory.
MAX_INFLATION = 1.05
SLACK_BYTES = 1 << 16


class CheckpointError(HarnessError):
    """A checkpoint that cannot be used (damaged, unsafe, from another format or run)."""


def _damaged(path: Path, why: str) -> CheckpointError:
    return CheckpointError(f"checkpoint {path} is damaged ({why}); `harness resume RUN_DIR --from-previous` "
                           "continues from the checkpoint before it")


def digest_file(path: Path) -> Path:
    return path.with_name(path.name + DIGEST_SUFFIX)


def recorded_digests(path: Path) -> Optional[list[str]]:
    sidecar = digest_file(path)
    try:
        text = sidecar.read_text(encoding="utf-8") if sidecar.is_file() else None
    except (OSError, UnicodeDecodeError):
        return []
    return None if text is None else [line.split()[0] for line in text.splitlines() if line.strip()]


def write_digests(path: Path, digests: list[str]) -> None:
    write_text(digest_file(path), "".join(f"{d}  {path.name}\n" for d in dict.fromkeys(digests) if d))


def check_file(path: Path) -> None:
    """A regular file (not a FIFO, device or folder) whose zip records would not inflate past its size."""
    try:
        info = os.stat(path)  # follows a symlink: a link to /dev/zero is a device, refused
    except OSError as exc:
        raise CheckpointError(f"checkpoint {path} cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(f"checkpoint {path} is not a regular file (a FIFO, device or folder); remove it, "
                              "then resume with --from-previous or start over with --force")
    try:
        with zipfile.ZipFile(path) as zf:
            declared = sum(i.file_size for i in zf.infolist())
            compressed = [i.filename for i in zf.infolist() if i.compress_type != zipfile.ZIP_STORED]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise _damaged(path, f"not a torch.save archive: {exc}") from None
    if compressed or declared > info.st_size * MAX_INFLATION + SLACK_BYTES:
        raise CheckpointError(f"checkpoint {path} declares {declared:,} bytes of records in a {info.st_size:,}-byte "
                              "file (compressed records, which torch.save never writes); it was not loaded: delete "
                              "it unless you trust its source, then resume with --from-previous")


def check_integrity(path: Path) -> None:
    """The file's sha256 is one its digest file lists; without a digest file, every zip record's CRC32."""
    digests = recorded_digests(path)
    if digests is not None:
        if sha256_file(path) not in digests:
            raise _damaged(path, f"its sha256 differs from the one recorded in {digest_file(path).name}")
        return
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise _damaged(path, str(exc)[:120]) from None
    if bad is not None:
        raise _damaged(path, f"record {bad} fails its CRC check")


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_payload(path: Path, payload: dict[str, Any]) -> None:
    """The fields every checkpoint has, with the right kinds of values; the position not negative."""
    kinds = {"position": dict, "model": dict, "optimizers": dict, "method_extra": dict, "rng": dict, "trainer": dict}
    for key, kind in kinds.items():
        if not isinstance(payload.get(key), kind):
            raise CheckpointError(f"checkpoint {path} has no valid {key!r} field; it was not written by this harness "
                                  "version: resume with --from-previous or start over with --force")
    position = payload["position"]
    for key in ("step", "epoch", "iteration"):
        if not _int(position.get(key)) or position[key] < 0:
            raise CheckpointError(f"checkpoint {path}: position {key} {position.get(key)!r} is not a whole number "
                                  "of at least 0; resume with --from-previous or start over with --force")
    bad = [k for k, v in payload["model"].items() if not torch.is_tensor(v)]
    if bad:
        raise CheckpointError(f"checkpoint {path}: model entry {bad[0]!r} is not a tensor; resume with "
                              "--from-previous or start over with --force")
    rng = payload["rng"]
    if not torch.is_tensor(rng.get("torch")) or not isinstance(rng.get("python"), dict) \
            or not isinstance(rng.get("numpy"), dict):
        raise CheckpointError(f"checkpoint {path} has no valid random-number states; resume with --from-previous "
                              "or start over with --force")


def check_fits(path: Path, saved: dict[str, Any], expected: dict[str, Any]) -> None:
    """Every tensor the method has, under the same name, with its shape and dtype, and finite."""
    fix = ("the method's code or config changed since this checkpoint (a renamed or resized layer?): resume with "
           "the code that wrote it, or start over with `harness run ... --force`")
    missing = [k for k in expected if k not in saved]
    unexpected = [k for k in saved if k not in expected]
    if missing or unexpected:
        parts = ([f"it lacks {missing[0]!r}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")]
                 if missing else []) + \
                ([f"it has {unexpected[0]!r}, which the method does not"
                  + (f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else "")] if unexpected else [])
        raise CheckpointError(f"checkpoint {path} does not fit the method: {'; '.join(parts)}; {fix}")
    for key, want in expected.items():
        got = saved[key]
        if not torch.is_tensor(want):
            continue
        if tuple(got.shape) != tuple(want.shape):
            raise CheckpointError(f"checkpoint {path} does not fit the method: {key!r} has shape {tuple(got.shape)}, "
                                  f"the method's is {tuple(want.shape)}; {fix}")
        if got.dtype != want.dtype:
            raise CheckpointError(f"checkpoint {path}: {key!r} is {got.dtype}, the method's is {want.dtype}; the "
                                  "file was altered or written by other code: resume with --from-previous or start "
                                  "over with --force")
    bad = first_non_finite(saved)
    if bad is not None:
        raise CheckpointError(f"checkpoint {path}: {bad!r} holds NaN or inf values; training diverged before it "
                              "was written, or the file was altered: resume with --from-previous or start over "
                              "with --force")


def first_non_finite(tensors: dict[str, Any]) -> Optional[str]:
    for key, value in tensors.items():
        if torch.is_tensor(value) and value.is_floating_point() and value.numel() \
                and not bool(torch.isfinite(value).all()):
            return key
        if isinstance(value, float) and not math.isfinite(value):
            return key
    return None
