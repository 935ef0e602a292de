"""Checksum manifests of data folders.

For every file under a data set's root: `relpath<TAB>sha256<TAB>bytes`, lines sorted bytewise,
joined with newlines and ending with one; the digest is the sha256 of that text. This is the
recipe ../shared/data/README.md uses, so digests compare across machines and copies.
"""
from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from harness.safety.paths import require_regular_file

# What a complete file of each image format ends with; a file cut short by an interrupted copy or
# download lacks it. Header checks miss such files (the header is intact) and training would stop
# on them hours later, so the manifest pass, which reads every byte anyway, checks the end too.
_JPEG_END = b"\xff\xd9"
_PNG_END = b"IEND\xaeB`\x82"


@dataclass(frozen=True)
class Manifest:
    root: Path
    lines: tuple[str, ...]
    digest: str
    total_bytes: int
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)

    @property
    def n_files(self) -> int:
        return len(self.lines)


def build_manifest(root: str | os.PathLike[str], progress: bool = False) -> Manifest:
    """Hash every file under `root` (hidden files and folders excluded)."""
    root = Path(root)
    if not root.is_dir():
        raise HarnessError(f"data folder {root} does not exist")
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if not name.startswith("."):
                files.append(Path(dirpath) / name)
    iterator = files
    if progress:
        from tqdm import tqdm
        iterator = tqdm(files, desc=f"hashing {root.name}", unit="file", leave=False)
    lines = []
    total = 0
    counts: Counter[str] = Counter()
    for path in iterator:
        rel = path.relative_to(root).as_posix()
        require_regular_file(path)  # a FIFO or a link to /dev/zero would hang the hash or never end
        size = path.stat().st_size
        total += size
        counts[rel.split("/")[0] if "/" in rel else "."] += 1
        digest, tail = _hash_with_tail(path)
        check_image_end(path, tail)
        lines.append(f"{rel}\t{digest}\t{size}")
    # Bytewise order, as `LC_ALL=C sort` gives.
    lines.sort(key=lambda s: s.encode("utf-8"))
    text = "".join(line + "\n" for line in lines)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Manifest(root, tuple(lines), digest, total, dict(sorted(counts.items())))


def _hash_with_tail(path: Path, chunk: int = 1 << 20) -> tuple[str, bytes]:
    """sha256 of the file and its last 64 bytes, in one read."""
    digest = hashlib.sha256()
    tail = b""
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
            tail = (tail + block)[-64:]
    return digest.hexdigest(), tail


def check_image_end(path: Path, tail: bytes) -> None:
    """Refuse a JPEG or PNG that does not end as a complete file of its format does."""
    suffix = path.suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        # Some writers pad after the end marker; tolerate padding, not missing data.
        complete = tail.rstrip(b"\x00\r\n \t").endswith(_JPEG_END)
        kind = "JPEG end marker (FF D9)"
    elif suffix == ".png":
        complete = tail.endswith(_PNG_END)
        kind = "PNG IEND chunk"
    else:
        return
    if not complete:
        with open(path, "rb") as fh:
            head = fh.read(8)
        actual = "PNG" if head.startswith(b"\x89PNG") else "JPEG" if head.startswith(b"\xff\xd8") else None
        named = "PNG" if suffix == ".png" else "JPEG"
        if actual is not None and actual != named:
            raise HarnessError(f"image {path} is a {actual} file named {path.suffix}: rename it to "
                               f"{'.png' if actual == 'PNG' else '.jpg'} (its digest stays the same)")
        raise HarnessError(f"image {path} is truncated (no {kind} at its end): copy or download it again, "
                           "or remove it")
