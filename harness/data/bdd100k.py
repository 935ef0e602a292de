"""Build the paper's day2night data set from a local BDD100K copy and its attribute labels.

Usage:
    harness data build-day2night --bdd-root /data/bdd100k/images/100k \\
        --labels /data/bdd100k/labels/bdd100k_labels_images_train.json \\
        --labels /data/bdd100k/labels/bdd100k_labels_images_val.json \\
        --out <data root>/day2night
    harness data verify --task day2night --data-root <data root>

Selection rule: every labelled frame whose `attributes.timeofday` is `daytime` is a day
candidate (domain A), `night` a night candidate (B); `dawn/dusk` and `undefined` are left out.
Labels come from the BDD100K attribute JSON (a list of frames with `name` and `attributes`;
the 2018 `bdd100k_labels_images_*.json` and the newer `det_*.json` both have this shape).
Candidates without an image file under `--bdd-root` (searched recursively by file name) are
skipped and counted. From the candidates sorted by name, `n_day` (7,870) day and `n_night`
(8,592) night frames are drawn with a seeded random sample, the counts the paper states.

Crop and resize: the centred square of side min(width, height) (720×720 of a 1280×720 frame)
is cut out and resized to `size`×`size` (256) with PIL's antialiased bicubic filter, saved as
JPEG quality 95 under the frame's own name. `crop="none"` resizes the whole frame instead.

What the paper leaves open (ASGIT §4.1.1; the official repository only links a Drive archive
of "street images cropped from BDD100K" and has no builder): which BDD100K split and which
frames were used (7,870 + 8,592 is far fewer than BDD100K holds), how the crops were cut and
at what size, and how dawn/dusk frames were treated. This builder reproduces the counts and a
documented, seeded choice, not the paper's exact images; results on it are comparable with
each other, and with the paper's only approximately.

Output: `<out>/A/` (day) and `<out>/B/` (night), the layout the `day2night` task reads (its
80/20 random split is made by the harness), plus hidden `<out>/.build.json` (rule, parameters,
label-file hashes, selected frames, counts, manifest digest) and `<out>/.manifest.tsv`.
The small real `webcam_day2night` task is a different data set (AMOS webcams, 400 images);
its results carry its own name and never stand for day2night.
"""
from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Iterable, Optional

from PIL import Image

from harness.data.layouts import IMAGE_EXTENSIONS
from harness.data.manifest import build_manifest
from harness.errors import HarnessError
from harness.io import sha256_file, staged_folder, write_json, write_text

DAY, NIGHT = "daytime", "night"
PAPER_COUNTS = {"A": 7870, "B": 8592}


def read_timeofday(label_files: Iterable[Path]) -> dict[str, str]:
    """Frame name → `timeofday` attribute from BDD100K label JSON files."""
    out: dict[str, str] = {}
    for path in label_files:
        try:
            frames = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise HarnessError(f"cannot read BDD100K labels {path}: {exc}") from exc
        if isinstance(frames, dict) and "frames" in frames:
            frames = frames["frames"]
        if not isinstance(frames, list):
            raise HarnessError(f"{path}: expected a list of frames with 'name' and 'attributes'")
        for frame in frames:
            try:
                out[frame["name"]] = frame.get("attributes", {}).get("timeofday", "undefined")
            except (TypeError, KeyError) as exc:
                raise HarnessError(f"{path}: a frame lacks 'name': {str(frame)[:120]}") from exc
    return out


def index_images(root: Path) -> dict[str, Path]:
    """File name → path of every image under `root` (first one wins for repeated names, sorted walk)."""
    if not root.is_dir():
        raise HarnessError(f"--bdd-root {root} is not a folder")
    found: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if Path(name).suffix.lower() in IMAGE_EXTENSIONS:
                found.setdefault(name, Path(dirpath) / name)
    return found


def select(timeofday: dict[str, str], available: dict[str, Path], n: dict[str, Optional[int]],
           seed: int) -> tuple[dict[str, list[str]], dict]:
    """Names per side by the documented rule, and counts of what was left out."""
    chosen, stats = {}, {"missing_images": 0, "excluded_timeofday": {}}
    for value in timeofday.values():
        if value not in (DAY, NIGHT):
            stats["excluded_timeofday"][value] = stats["excluded_timeofday"].get(value, 0) + 1
    for side, wanted in (("A", DAY), ("B", NIGHT)):
        names = sorted(k for k, v in timeofday.items() if v == wanted)
        present = [k for k in names if k in available]
        stats["missing_images"] += len(names) - len(present)
        stats[f"candidates_{side}"] = len(present)
        k = n.get(side)
        chosen[side] = sorted(random.Random(f"{seed}:{side}").sample(present, k)) if k is not None and k < len(present) \
            else present
    return chosen, stats


def crop_resize(path: Path, size: int, crop: str = "center") -> Image.Image:
    """The centred square crop (or the whole frame) resized to size×size."""
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
    except OSError as exc:
        raise HarnessError(f"cannot decode BDD100K image {path}: {exc}") from exc
    if crop == "center":
        w, h = img.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        img = img.crop((left, top, left + side, top + side))
    elif crop != "none":
        raise HarnessError(f"unknown crop {crop!r}; use 'center' or 'none'")
    return img.resize((size, size), Image.BICUBIC)


def build_day2night(bdd_root: Path, label_files: list[Path], out: Path, n_day: Optional[int] = PAPER_COUNTS["A"],
                    n_night: Optional[int] = PAPER_COUNTS["B"], size: int = 256, crop: str = "center",
                    seed: int = 0, progress: bool = True) -> dict:
    """Select, crop, resize and write day (A/) and night (B/) images; return the build record."""
    from tqdm import tqdm
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise HarnessError(f"{out} already exists and is not empty; choose another --out or remove it")
    timeofday = read_timeofday(label_files)
    available = index_images(Path(bdd_root))
    chosen, stats = select(timeofday, available, {"A": n_day, "B": n_night}, seed)
    for side in "AB":
        if not chosen[side]:
            raise HarnessError(f"no {'day' if side == 'A' else 'night'} images found: check --labels and --bdd-root")
    with staged_folder(out) as staging:
        jobs = [(side, name) for side in "AB" for name in chosen[side]]
        for side in "AB":
            (staging / side).mkdir(parents=True)
        for side, name in tqdm(jobs, desc="day2night", unit="img", disable=not progress or None):
            crop_resize(available[name], size, crop).save(staging / side / f"{Path(name).stem}.jpg", quality=95)
    manifest = build_manifest(out)
    record = {"task": "day2night", "source": "BDD100K", "bdd_root": str(bdd_root),
              "label_files": {str(p): sha256_file(p) for p in label_files},
              "rule": "timeofday == 'daytime' -> A (day), 'night' -> B (night); dawn/dusk, undefined excluded; "
                      "seeded sample of the name-sorted candidates",
              "requested": {"A": n_day, "B": n_night}, "size": size, "crop": crop, "seed": seed,
              "jpeg_quality": 95, "counts": {side: len(chosen[side]) for side in "AB"}, **stats,
              "manifest_digest": manifest.digest, "selected": chosen}
    shortfall = [side for side, k in (("A", n_day), ("B", n_night)) if k is not None and len(chosen[side]) < k]
    if shortfall:
        record["warning"] = f"fewer candidates than requested for {', '.join(shortfall)}: all were used"
    write_json(out / ".build.json", record)
    write_text(out / ".manifest.tsv", manifest.text)
    return record
