"""Atomic file writes: a temporary file in the same folder, flushed, then renamed.

A crash never leaves a half-written result, checkpoint, cache or table that a later
stage would trust.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from harness.errors import HarnessError


def update_pixels_digest(digest: "hashlib._Hash", image_id: str, image: Any) -> None:
    """The translation digest recipe: sha256 over each image's id, then its uint8 CHW pixels (a tensor),
    in order. Translation writes it into result.json; evaluation keys generated-image features by it."""
    digest.update(image_id.encode() + image.cpu().numpy().tobytes())


class WriteError(HarnessError):
    """A write the file system refused (disk full, read-only folder), named with its file."""


_WRITE_ADVICE = {
    errno.ENOSPC: "the disk is full: free space (old runs' checkpoints/ folders are the largest files) or write "
                  "elsewhere with --out, then `harness resume RUN_DIR` continues from the last checkpoint",
    errno.EDQUOT: "the disk quota is used up: free space or write elsewhere with --out",
    errno.EROFS: "the file system is read-only: write elsewhere (--out for runs)",
    errno.EACCES: "the folder is not writable by this user: write elsewhere with --out or fix its permissions",
    errno.EPERM: "the folder is not writable by this user: write elsewhere with --out or fix its permissions",
}


def describe_os_error(exc: OSError, target: str | os.PathLike[str] | None = None) -> str | None:
    """One line for the file-system errors a user fixes (disk full, read-only, permissions); None for others."""
    advice = _WRITE_ADVICE.get(exc.errno or 0)
    if advice is None:
        return None
    name = target or exc.filename or "a file"
    return f"cannot write {name}: {exc.strerror or os.strerror(exc.errno)}; {advice}"


def _umask_mode() -> int:
    """The mode a plain `open(..., "w")` would give a new file under the current umask (0644 under 022)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it over `target` if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        message = describe_os_error(exc, target)
        if message is None:
            raise
        raise WriteError(message) from exc
    try:
        os.fchmod(fd, _umask_mode())  # mkstemp makes 0600; results and reports are for others to read too
    finally:
        os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    except OSError as exc:
        message = describe_os_error(exc, target)
        if message is None:
            raise
        raise WriteError(message) from exc
    except RuntimeError as exc:  # torch.save reports a failed write as RuntimeError, without errno
        free = shutil.disk_usage(target.parent).free
        if free > (tmp_path.stat().st_size if tmp_path.exists() else 0) + (1 << 20):
            raise
        raise WriteError(describe_os_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), target)) from exc
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextmanager
def staged_folder(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Build a folder as `.<name>.partial` beside `target`; move it into place only if the block succeeds.

    A crash or error leaves no half-filled folder under the real name. `target` may exist only
    as an empty folder, which is replaced.
    """
    target = Path(target)
    staging = target.with_name(f".{target.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
        if target.exists():
            target.rmdir()
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_text(target: str | os.PathLike[str], text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_json(target: str | os.PathLike[str], obj: Any) -> None:
    write_text(target, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete what killed writes left under `folder`: `.NAME.*.tmp` files of `atomic_path` and
    `.NAME.partial` folders of `staged_folder`. The files they were to replace are intact."""
    removed = []
    root = Path(folder)
    if not root.is_dir():
        return removed
    for path in sorted(root.rglob(".*"), reverse=True):  # deepest first
        if path.is_file() and path.name.endswith(".tmp"):
            path.unlink(missing_ok=True)
            removed.append(path)
        elif path.is_dir() and path.name.endswith(".partial"):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
