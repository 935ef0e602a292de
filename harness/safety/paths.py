"""Paths named by files we did not write (result.json, split.json, archives) used only inside their folder.

Result, run and split files are shared (pull requests, collaborators) and the report is published,
so a path read from one is a claim to check, never a path to follow: it must be relative, resolve
(symlinks included) inside the folder it belongs to, and name a regular file or folder (a FIFO or a
device would hang a read or never end).
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
from pathlib import Path
from typing import Any, Optional

log = logging.getLogger("harness.safety")
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}")


def inside(root: Path, rel: Any, kind: str = "file", what: str = "") -> Optional[Path]:
    """`root/rel` resolved, if `rel` is a relative path that stays inside `root` and names an existing
    regular file (`kind="file"`) or folder (`kind="dir"`); else None, with a warning when `rel` tried to
    leave `root` (an absolute path, '..', or a symlink pointing out)."""
    if not isinstance(rel, (str, os.PathLike)) or not str(rel) or "\x00" in str(rel):
        return None
    root_resolved = Path(root).resolve()
    candidate = Path(root) / rel
    try:
        resolved = candidate.resolve(strict=True)
    except (OSError, RuntimeError):  # missing, a symlink loop
        return None
    if Path(rel).is_absolute() or (resolved != root_resolved and root_resolved not in resolved.parents):
        log.warning("refused %s%s: it points outside %s", f"{what} " if what else "", rel, root)
        return None
    try:
        mode = resolved.stat().st_mode
    except OSError:
        return None
    if (kind == "file" and not stat.S_ISREG(mode)) or (kind == "dir" and not stat.S_ISDIR(mode)):
        if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
            log.warning("refused %s%s: not a regular file or folder", f"{what} " if what else "", rel)
        return None
    return resolved


def regular_files(folder: Path, pattern: str, root: Path) -> list[Path]:
    """Files matching `pattern` in `folder` that are regular files resolving inside `root`, sorted."""
    out, root = [], Path(root).resolve()
    for path in sorted(Path(folder).resolve().glob(pattern)):
        hit = inside(root, path.relative_to(root), "file", "file")
        if hit is not None:
            out.append(path)
    return out


def safe_slug(*parts: Any) -> str:
    """A file-name slug from names found in result files: plain names stay as they are; anything else
    (path separators, '--', leading dots, odd characters, over-long) is sanitised and suffixed with a short
    digest of the original, so two different names never share a slug."""
    out = []
    for part in parts:
        text = str(part)
        if _PLAIN.fullmatch(text) and "--" not in text and ".." not in text:
            out.append(text)
            continue
        clean = re.sub(r"[^A-Za-z0-9_.]", "_", text)[:60].lstrip(".") or "_"
        out.append(f"{clean}-{hashlib.sha256(text.encode('utf-8', 'replace')).hexdigest()[:8]}")
    return "--".join(out)


def require_regular_file(path) -> None:
    """Refuse a FIFO, device or socket (or a symlink to one, such as /dev/zero) before opening it: reading one
    would wait forever or never end."""
    from harness.errors import HarnessError

    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise HarnessError(f"cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        raise HarnessError(f"{path} is not a regular file (a FIFO, device or folder, or a symlink to one); "
                           "remove or replace it")
