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
from harness.report.figure_cache import cached_figure, figure_key, file_digest

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


SIDE_TAGS = ("A", "B", "AB", "BA", "A2B", "B2A")
FAMILY_ORDER = ("gan", "adv", "cycle", "cyc", "identity", "idt", "l1", "recon", "nce", "kl", "cls", "gp",
                "attention", "D", "other")


def loss_name(name: str) -> str:
    """One spelling across methods: the family part in lower case (G_L1_A2B and G_l1_A2B are one loss)."""
    parts = name.split("_")
    if len(parts) > 1 and not parts[0].upper().startswith("D") and parts[1] not in SIDE_TAGS:
        parts[1] = parts[1].lower()
    return "_".join(parts)


def loss_family(name: str) -> str:
    """The panel a loss goes in: what it measures (G_gan_AB → gan, G_cycle → cycle, G_l1_A2B → l1), all
    discriminator losses (D_A, D_B) together. Losses of one family share a scale; an L1 term weighted ×100
    on the GAN terms' axis would flatten them."""
    head, _, rest = name.partition("_")
    if head.upper().startswith("D"):
        return "D"
    words = [w for w in rest.split("_") if w and w not in SIDE_TAGS]  # G_A_gan → gan, NCE_A2B → nce
    return (words[0] if words and head.upper() == "G" else head).lower()


def _family_rank(family: str) -> tuple[int, str]:
    return (FAMILY_ORDER.index(family) if family in FAMILY_ORDER else len(FAMILY_ORDER) - 2, family)


def loss_figure(losses_jsonl: Path, out: Path, title: str = "", vector: bool = False,
                cache: bool = False) -> Optional[Path]:
    """One panel per loss family (stable order), one line per loss, against the step; with `vector` an
    SVG beside the PNG for papers; None without records. `cache`: reuse the figure drawn before from the
    same inputs (figure_cache)."""
    if cache:
        key = figure_key("losses", losses=file_digest(losses_jsonl), title=title, vector=vector)
        outs = [out] + ([out.with_suffix(".svg")] if vector else [])
        return cached_figure(key, outs, lambda: loss_figure(losses_jsonl, out, title, vector))
    records = read_losses(losses_jsonl) if losses_jsonl.is_file() else []
    records = [{loss_name(k): v for k, v in r.items()} for r in records]
    names = list(dict.fromkeys(k for r in records for k in r if k not in ("step", "epoch")))
    if not names:
        return None
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(loss_family(name), []).append(name)
    groups = dict(sorted(groups.items(), key=lambda kv: _family_rank(kv[0])))
    plt = _pyplot()
    ncols = min(4, len(groups))
    nrows = -(-len(groups) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.2 * nrows + 0.3), squeeze=False)
    for ax in axes.flat[len(groups):]:
        ax.axis("off")
    for ax, (group, members) in zip(axes.flat, groups.items()):
        for name in sorted(members):
            points = [(r["step"], r[name]) for r in records if name in r]
            ax.plot([p[0] for p in points], [p[1] for p in points], label=name, linewidth=1.2,
                    marker="o" if len(points) < 30 else None, markersize=2.5)
        ax.set_title("discriminator losses" if group == "D" else f"{group} losses", fontsize=10)
        ax.set_xlabel("step", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save(fig, out)
    if vector:
        _save(fig, out.with_suffix(".svg"), "svg")
    plt.close(fig)
    return out


def _save(fig, out: Path, kind: str = "png") -> None:
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format=kind, dpi=90)


def _open(item: Optional[Path | ImageRef], size: int) -> Optional[np.ndarray]:
    """A translation file, or a data image (an ImageRef: its half of an aligned A|B file); None if absent."""
    path = item.path if isinstance(item, ImageRef) else item
    if path is None or not path.is_file():
        return None
    image = load_image(item) if isinstance(item, ImageRef) else Image.open(path).convert("RGB")
    return np.asarray(image.resize((size, size), Image.NEAREST))


def side_by_side(image_ids: Sequence[str], inputs: dict[str, ImageRef], columns: dict[str, dict[str, Path]],
                 targets: dict[str, ImageRef], out: Path, title: str, target_label: str, size: int = 128,
                 first: bool = False, cache: bool = False) -> Path:
    """Rows: test images; columns: the input, each method's translation of it, then a real target image
    (`first`: the target right after the input).

    `columns` maps a column title (may hold a second line, e.g. the score) to {image id: translation file};
    a missing file is a blank tile. `cache`: reuse the figure drawn before from the same inputs (figure_cache).
    """
    if cache:
        def source(item: Optional[Path | ImageRef]) -> Optional[list]:
            path = item.path if isinstance(item, ImageRef) else item
            return None if path is None else [file_digest(path), getattr(item, "half", None)]
        rows = list(image_ids)[:MAX_ROWS]
        key = figure_key("side_by_side", rows=rows, titles=list(columns), title=title, target_label=target_label,
                         size=size, first=first, inputs=[source(inputs.get(i)) for i in rows],
                         targets=[source(targets.get(i)) for i in rows],
                         columns=[[source(c.get(i)) for i in rows] for c in columns.values()])
        return cached_figure(key, [out], lambda: side_by_side(image_ids, inputs, columns, targets, out, title,
                                                              target_label, size, first))
    titles = ["input"] + ([target_label] if first else []) + list(columns) + ([] if first else [target_label])
    plt = _pyplot()
    rows = list(image_ids)[:MAX_ROWS]
    fig, axes = plt.subplots(len(rows), len(titles), squeeze=False,
                             figsize=(TILE_INCHES * len(titles), TILE_INCHES * len(rows) + 0.5))
    for i, image_id in enumerate(rows):
        translated = [c.get(image_id) for c in columns.values()]
        files = [inputs.get(image_id)] + ([targets.get(image_id)] + translated if first else
                                          translated + [targets.get(image_id)])
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
