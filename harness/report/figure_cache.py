"""The report's figures, cached by what they are drawn from.

A figure is a pure function of its inputs (the bytes of `losses.jsonl` or of the translated images, the titles,
the drawing code's version and matplotlib's), so `harness report` keeps each one it draws under
`HARNESS_CACHE/figures/<sha256 of those inputs>/` and copies it from there the next time the same figure is
asked for: rebuilding the report after one new run redraws that run's figures, not every run's (matplotlib
takes most of a report's time). A damaged or unwritable cache only costs the redraw.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any, Callable, Optional

from harness.data.demo import cache_dir
from harness.errors import HarnessError
from harness.io import atomic_path

log = logging.getLogger(__name__)

# Bump when the drawing code changes what a figure looks like: figures cached by older code are then not reused.
DRAWING_VERSION = 1


def file_digest(path: Optional[Path]) -> Optional[str]:
    """sha256 of a file's bytes; None where there is no file (a blank tile, no losses)."""
    if path is None or not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


def figure_key(kind: str, **inputs: Any) -> str:
    """The cache key of one figure: everything it is drawn from, as JSON, hashed."""
    import matplotlib

    blob = json.dumps({"kind": kind, "drawing_version": DRAWING_VERSION, "matplotlib": matplotlib.__version__,
                       **inputs}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def cached_figure(key: str, outs: list[Path], draw: Callable[[], Optional[Path]]) -> Optional[Path]:
    """Write the files `outs` (a PNG, maybe an SVG beside it) from the cache entry `key`, or call `draw`
    (which writes them and returns outs[0], or None for no figure) and keep what it wrote there."""
    entry = cache_dir() / "figures" / key[:2] / key
    kept = [entry / f"figure{out.suffix}" for out in outs]
    if all(path.is_file() for path in kept):
        try:
            for path, out in zip(kept, outs):
                with atomic_path(out) as tmp:
                    shutil.copyfile(path, tmp)
            return outs[0]
        except (OSError, HarnessError) as exc:  # fall back to drawing it
            log.debug("figure cache %s unreadable (%s); drawing the figure", entry, exc)
    drawn = draw()
    if drawn is not None and all(out.is_file() for out in outs):
        try:
            for out, path in zip(outs, kept):
                with atomic_path(path) as tmp:
                    shutil.copyfile(out, tmp)
        except (OSError, HarnessError) as exc:
            log.debug("figure cache %s not written (%s)", entry, exc)
    return drawn
