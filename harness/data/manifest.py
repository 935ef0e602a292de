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
from harness.io import sha256_file


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
        size = path.stat().st_size
        total += size
        counts[rel.split("/")[0] if "/" in rel else "."] += 1
        lines.append(f"{rel}\t{sha256_file(path)}\t{size}")
    # Bytewise order, as `LC_ALL=C sort` gives.
    lines.sort(key=lambda s: s.encode("utf-8"))
    text = "".join(line + "\n" for line in lines)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Manifest(root, tuple(lines), digest, total, dict(sorted(counts.items())))
