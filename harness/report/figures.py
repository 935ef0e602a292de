"""Figures of the report, drawn with matplotlib from files a run leaves: loss curves from
`losses.jsonl`, and side-by-side translations of the same test images by every method."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from PIL import Image

from harness.data.datasets import load_image
from harness.data.layouts import ImageRef
from harness.io import atomic_path

MAX_ROWS = 4  # test images per side-by-side figure
TILE_INCHES = 1.35


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def read_losses(path: Path) -> list[dict]:
    """The logged records; a truncated last line (a run killed while writing) is skipped."""
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def loss_group(name: str) -> str:
    """The panel a loss goes in: its network prefix (G_gan_AB → G, D_A → D)."""
    head, sep, _ = name.partition("_")
    return head if sep else "other"


def loss_figure(losses_jsonl: Path, out: Path, title: str = "") -> Optional[Path]:
    """One panel per network / loss group, one line per loss, against the step; None without records."""
    records = read_losses(losses_jsonl) if losses_jsonl.is_file() else []
    names = list(dict.fromkeys(k for r in records for k in r if k not in ("step", "epoch")))
    if not names:
        return None
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(loss_group(name), []).append(name)
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.0), squeeze=False)
    for ax, (group, members) in zip(axes[0], groups.items()):
        for name in members:
            points = [(r["step"], r[name]) for r in records if name in r]
            ax.plot([p[0] for p in points], [p[1] for p in points], label=name, linewidth=1.2,
                    marker="o" if len(points) < 30 else None, markersize=2.5)
        ax.set_title(f"{group} losses" if group != "other" else "other losses", fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save(fig, out)
    plt.close(fig)
    return out


def _save(fig, out: Path) -> None:
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=90)


def _open(item: Optional[Path | ImageRef], size: int) -> Optional[np.ndarray]:
    """A translation file, or a data image (an ImageRef: its half of an aligned A|B file); None if absent."""
    path = item.path if isinstance(item, ImageRef) else item
    if path is None or not path.is_file():
        return None
    image = load_image(item) if isinstance(item, ImageRef) else Image.open(path).convert("RGB")
    return np.asarray(image.resize((size, size), Image.NEAREST))


def side_by_side(image_ids: Sequence[str], inputs: dict[str, ImageRef], columns: dict[str, dict[str, Path]],
                 targets: dict[str, ImageRef], out: Path, title: str, target_label: str, size: int = 128) -> Path:
    """Rows: test images; columns: the input, each method's translation of it, then a real target image.

    `columns` maps a column title to {image id: translation file}; a missing file is a blank tile.
    """
    titles = ["input"] + list(columns) + [target_label]
    plt = _pyplot()
    rows = list(image_ids)[:MAX_ROWS]
    fig, axes = plt.subplots(len(rows), len(titles), squeeze=False,
                             figsize=(TILE_INCHES * len(titles), TILE_INCHES * len(rows) + 0.5))
    for i, image_id in enumerate(rows):
        files = [inputs.get(image_id)] + [c.get(image_id) for c in columns.values()] + [targets.get(image_id)]
        for j, path in enumerate(files):
            ax = axes[i][j]
            tile = _open(path, size)
            ax.imshow(tile if tile is not None else np.full((size, size, 3), 235, np.uint8))
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(titles[j], fontsize=8)
            if j == 0:
                ax.set_ylabel(image_id, fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save(fig, out)
    plt.close(fig)
    return out
