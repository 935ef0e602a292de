"""Replace a generated folder as a whole: build the new set beside it, then swap it in.

A refused or interrupted build never leaves a mix of old and new files under the real name:
the new set is written into `.<name>.partial` (starting from a copy of the current folder, so
files this build does not rewrite, such as a refused table's last good version, are kept), and
only a complete set is moved into place.
"""
from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def replace_folder(target: str | Path, keep_existing: bool = True) -> Iterator[Path]:
    """Yield a staging folder; on success it becomes `target` (the old folder is removed after the swap)."""
    target = Path(target)
    staging = target.with_name(f".{target.name}.partial")
    retired = target.with_name(f".{target.name}.old")
    shutil.rmtree(staging, ignore_errors=True)  # left by an interrupted build
    if keep_existing and target.is_dir():
        shutil.copytree(target, staging)
    else:
        staging.mkdir(parents=True)
    try:
        yield staging
        shutil.rmtree(retired, ignore_errors=True)
        if target.exists():
            target.rename(retired)
        staging.rename(target)
        shutil.rmtree(retired, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
