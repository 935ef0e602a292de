"""Hugging Face `datasets` as a second source of the CycleGAN data sets.

Usage:
    harness data from-huggingface huggan/horse2zebra --out <data root>/horse2zebra [--revision <commit>]
    harness data from-huggingface /path/written/by/save_to_disk --out <data root>/mydata

From Python: `export_dataset(dataset_dict, out, dataset_id=..., revision=...)` for a
`datasets.DatasetDict` already in memory.

Two schemas are understood:
- two image columns, `imageA` and `imageB` (the huggan/* data sets): each Hub split (`train`,
  `test`; `validation`/`val` count as test) gives `<split>A/` and `<split>B/`; empty cells are
  skipped, and an image repeated within one folder (sets padded to the longer domain) is
  written once;
- one image column and a class-label column whose names are the CycleGAN folders (`trainA`,
  `testB`, ...) or two domain names (class 0 = A, class 1 = B, Hub split = train/test).

Image bytes are written as stored (no re-encoding), named after the stored file name when the
data set keeps one, else by row number. The folder gets a hidden `.provenance.json` (hidden so
it does not enter the manifest): data set id, requested and resolved revision, `datasets`
version, counts and the manifest digest. The digest equals the official release's only when the
Hub copy kept the original bytes and names; otherwise record it as this source's own digest.
"""
from __future__ import annotations

import hashlib
import io
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from PIL import Image

from harness.data.manifest import build_manifest
from harness.errors import HarnessError
from harness.io import staged_folder, write_json

PROVENANCE_FILE = ".provenance.json"
CYCLEGAN_FOLDERS = ("trainA", "trainB", "testA", "testB")
SPLIT_NAMES = {"train": "train", "test": "test", "validation": "test", "val": "test"}
_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "BMP": ".bmp", "WEBP": ".webp"}


def _image_columns(features) -> list[str]:
    from datasets import Image as ImageFeature
    return [name for name, feat in features.items() if isinstance(feat, ImageFeature)]


def _label_column(features) -> Optional[str]:
    from datasets import ClassLabel
    return next((name for name, feat in features.items() if isinstance(feat, ClassLabel)), None)


def _image_bytes(cell: dict) -> bytes:
    if cell.get("bytes"):
        return cell["bytes"]
    if cell.get("path") and Path(cell["path"]).is_file():
        return Path(cell["path"]).read_bytes()
    raise HarnessError(f"an image cell holds neither bytes nor a readable path: {cell.get('path')!r}")


def _file_name(data: bytes, stored_path: Optional[str], index: int, taken: set[str]) -> str:
    try:
        with Image.open(io.BytesIO(data)) as img:
            ext = _EXTENSIONS.get(img.format or "", ".png")
    except Exception as exc:  # noqa: BLE001 - any decoder failure means a broken cell
        raise HarnessError(f"row {index} ({stored_path or 'no file name'}) is not a readable image: {exc}") from exc
    name = Path(stored_path).name if stored_path else ""
    if not name or name in taken:
        name = f"{index:05d}{ext}"
    taken.add(name)
    return name


def _rows_by_folder(dsdict) -> dict[str, list[tuple[int, dict]]]:
    """(row number, image cell) lists per CycleGAN folder, whatever the schema."""
    from datasets import Image as ImageFeature
    out: dict[str, list[tuple[int, dict]]] = {f: [] for f in CYCLEGAN_FOLDERS}
    for split_name, ds in dsdict.items():
        images = _image_columns(ds.features)
        label = _label_column(ds.features)
        part = SPLIT_NAMES.get(split_name)
        for col in images:
            ds = ds.cast_column(col, ImageFeature(decode=False))
        if {"imageA", "imageB"} <= set(images):
            if part is None:
                raise HarnessError(f"Hub split {split_name!r} is neither train nor test ({', '.join(SPLIT_NAMES)})")
            for side in "AB":
                out[f"{part}{side}"] += [(i, c) for i, c in enumerate(ds[f"image{side}"]) if c is not None]
        elif len(images) == 1 and label is not None:
            names = ds.features[label].names
            if set(names) <= set(CYCLEGAN_FOLDERS):
                folders = names
            elif len(names) == 2 and part is not None:
                folders = [f"{part}A", f"{part}B"]
            else:
                raise HarnessError(f"label column {label!r} has classes {names}; expected CycleGAN folder names "
                                   f"or two domains")
            for i, (cell, lab) in enumerate(zip(ds[images[0]], ds[label])):
                if cell is not None:
                    out[folders[lab]].append((i, cell))
        else:
            raise HarnessError(f"split {split_name!r} has image columns {images} and label {label!r}: expected "
                               f"imageA + imageB, or one image column with a class label")
    return out


def export_dataset(dsdict, out: Path, dataset_id: str, revision: Optional[str] = None,
                   resolved_revision: Optional[str] = None) -> dict:
    """Write a `DatasetDict` to `out` in the CycleGAN layout with a provenance file; return the provenance."""
    import datasets
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise HarnessError(f"{out} already exists and is not empty; choose another --out or remove it")
    counts, dropped = {}, 0
    with staged_folder(out) as staging:
        for folder, rows in _rows_by_folder(dsdict).items():
            if not rows:
                continue
            (staging / folder).mkdir(parents=True)
            seen, taken = set(), set()
            for index, cell in rows:
                data = _image_bytes(cell)
                digest = hashlib.sha256(data).digest()
                if digest in seen:
                    dropped += 1
                    continue
                seen.add(digest)
                (staging / folder / _file_name(data, cell.get("path"), index, taken)).write_bytes(data)
            counts[folder] = len(seen)
        if not counts:
            raise HarnessError(f"{dataset_id} holds no images")
    provenance = {"source": "huggingface", "dataset_id": dataset_id, "revision": revision or "default",
                  "resolved_revision": resolved_revision, "datasets_version": datasets.__version__,
                  "counts": counts, "repeated_images_skipped": dropped,
                  "manifest_digest": build_manifest(out).digest,
                  "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    write_json(out / PROVENANCE_FILE, provenance)
    return provenance


def export_hub_dataset(dataset_id: str, out: Path, revision: Optional[str] = None) -> dict:
    """Load a Hub data set (or a `save_to_disk` folder) and export it; see the module docstring."""
    import datasets
    if Path(dataset_id).is_dir():
        dsdict = datasets.load_from_disk(dataset_id)
        if isinstance(dsdict, datasets.Dataset):
            dsdict = datasets.DatasetDict({"train": dsdict})
        return export_dataset(dsdict, out, str(Path(dataset_id).resolve()), revision or "local")
    try:
        dsdict = datasets.load_dataset(dataset_id, revision=revision)
    except Exception as exc:  # noqa: BLE001 - network, auth and missing-id errors all end here
        raise HarnessError(f"cannot load Hugging Face data set {dataset_id!r} (revision {revision or 'default'}): "
                           f"{exc}") from exc
    return export_dataset(dsdict, out, dataset_id, revision, _resolve_revision(dataset_id, revision))


def _resolve_revision(dataset_id: str, revision: Optional[str]) -> Optional[str]:
    """The commit sha the Hub serves for `revision`, or None when the Hub cannot be asked."""
    try:
        from huggingface_hub import HfApi
        return HfApi().dataset_info(dataset_id, revision=revision).sha
    except Exception:  # noqa: BLE001 - offline or private: the requested revision is still recorded
        return None
