"""The task page's side-by-side figures: the same test images translated by every method.

One figure per schedule and direction, from runs whose translation files are on disk (a committed
result without its run folder never hides a fresh run's pictures). Columns: the input and the ground
truth (or a real target image, unpaired) first, then the methods ordered by the task's headline score,
the score under each title. The page shows the tiles themselves at a whole-number scale (≥ 64 px),
each a link to the full-size file, in rows of at most `PER_ROW` methods; a matplotlib PNG of the
same figure (and its SVG) is written for papers.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Optional

from PIL import Image

from harness.data.layouts import ImageRef
from harness.data.datasets import load_image
from harness.headline import headline_for, ok_value, result_metrics
from harness.leaderboard.names import display_name
from harness.report import figures
from harness.safety.paths import inside, regular_files, safe_slug
from harness.safety.result_files import split_test_lines

PER_ROW = 8  # method columns per row of the on-page figure (after input and ground truth)
MIN_TILE = 64


_slug = safe_slug  # names from result files: sanitised, and two names never share a slug


def split_paths(run_dir: Path, result: dict) -> dict[tuple[str, str], ImageRef]:
    """(side, image id) -> the test image (file and half of an aligned A|B file), from the run's split.json
    and its recorded data root."""
    split_file, root = inside(run_dir, "split.json"), (result.get("data") or {}).get("root")
    if split_file is None or not isinstance(root, str) or not root:
        return {}
    out = {}
    for part, side, image_id, rel, half in split_test_lines(split_file):
        if part == "test":
            path = inside(Path(root), rel, what=f"test image of {split_file}")  # only under the data root
            if path is not None:
                out[(side, image_id)] = ImageRef(image_id, path, half)
    return out


def _translation_dir(page, direction: str) -> Optional[Path]:
    info = (page.result.get("translations") or {}).get(direction)
    folder = inside(page.run_dir, info.get("dir"), "dir", "translations folder") if isinstance(info, dict) else None
    return folder if folder is not None and regular_files(folder, "*.png", page.run_dir) else None


def pick_runs(pages: list) -> dict[str, dict[str, object]]:
    """schedule -> {method: run page}: per schedule and method the run with translations on disk, without
    overrides and with the lowest seed first. Schedules with more methods come first."""
    by_schedule: dict[str, dict[str, object]] = {}
    for page in sorted(pages, key=lambda p: (bool(p.overrides), p.result.get("seed", 0), p.run_id)):
        if any(_translation_dir(page, d) for d in (page.result.get("translations") or {})):
            by_schedule.setdefault(str(page.result.get("schedule")), {}).setdefault(page.method, page)
    return dict(sorted(by_schedule.items(), key=lambda kv: (-len(kv[1]), kv[0])))


def _save_tile(item: Optional[Path | ImageRef], out: Path) -> Optional[int]:
    """Copy a translation (or the data image's half) into the site; its width, None when absent."""
    path = item.path if isinstance(item, ImageRef) else item
    if path is None or not path.is_file():
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(item, ImageRef):
        image = load_image(item)
        image.save(out)
        return image.width
    shutil.copyfile(path, out)
    with Image.open(out) as image:
        return image.width


def _figure(task: str, schedule: str, direction: str, chosen: dict, site: Path) -> Optional[dict]:
    columns: dict[str, dict[str, Path]] = {}
    for method, page in chosen.items():
        folder = _translation_dir(page, direction)
        if folder is not None:
            columns[method] = {p.stem: p for p in regular_files(folder, "*.png", page.run_dir)}
    if not columns:
        return None
    headline = headline_for(task, set().union(*(result_metrics(chosen[m].result) for m in columns)))
    scores = {m: ok_value(chosen[m].result, direction, headline.metric) if headline else None for m in columns}
    order = sorted(columns, key=lambda m: (headline.sort_key(scores[m]) if headline else (0, 0), m))
    ids = sorted(set.intersection(*(set(columns[m]) for m in order)))[:figures.MAX_ROWS]
    any_page = chosen[order[0]]
    paths = split_paths(any_page.run_dir, any_page.result)
    src_side, dst_side = direction[0], direction[-1]
    paired = bool(ids) and all((dst_side, i) in paths for i in ids)
    target_ids = [i for (s, i) in sorted(paths) if s == dst_side]
    targets = {i: paths.get((dst_side, i)) for i in ids} if paired else \
        {i: paths.get((dst_side, t)) for i, t in zip(ids, target_ids)}
    inputs = {i: paths.get((src_side, i)) for i in ids}
    name = (any_page.result.get("directions") or {}).get(direction, direction)
    label = "ground truth" if paired else "real target (unpaired)"
    base = f"img/task-{_slug(task, schedule, direction)}"
    fixed = [("input", "", inputs), (label, "", targets)]
    heads = fixed + [(m, _score_text(scores[m], headline), columns[m]) for m in order]
    grid, width = [], 0
    for c, (title, score, files) in enumerate(heads):
        tiles = []
        for i in ids:
            rel = f"{base}/c{c:02d}_{_slug(i)}.png"
            w = _save_tile(files.get(i), site / rel)
            width = max(width, w or 0)
            tiles.append(rel if w else None)
        link = f"runs/{chosen[title].slug}.html" if title in chosen else None
        grid.append({"title": display_name(title) if title in chosen else title, "score": score, "tiles": tiles,
                     "link": link})
    scale = max(1, -(-MIN_TILE // max(width, 1)))
    rows = [grid[:2] + grid[2 + k:2 + k + PER_ROW] for k in range(0, max(len(grid) - 2, 1), PER_ROW)]
    png = f"{base}.png"
    titled = {f"{display_name(m)}\n{_score_text(scores[m], headline)}".strip(): columns[m] for m in order}
    figures.side_by_side(ids, {k: v for k, v in inputs.items() if v}, titled, {k: v for k, v in targets.items() if v},
                         site / png, f"{task} {name} ({schedule} schedule)", label, first=True, cache=True)
    missing = not any(p and p.path.is_file() for p in inputs.values())
    root = (any_page.result.get("data") or {}).get("root")
    return {"direction": f"{name} ({direction})", "schedule": schedule, "rows": rows, "ids": ids,
            "tile": width * scale, "png": png, "headline": headline.label + " " + headline.arrow if headline else "",
            "note": f"input images not found under {root} on this machine (blank tiles)" if missing else ""}


def _score_text(value: Optional[float], headline) -> str:
    return "" if value is None or headline is None else f"{headline.label} {value:.3g}"


def task_figures(task: str, pages: list, site: Path) -> tuple[list[dict], str]:
    """The figures of a task page, and a sentence for when there are none."""
    out = []
    for schedule, chosen in pick_runs(pages).items():
        directions = sorted({d for p in chosen.values() for d in (p.result.get("translations") or {})})
        for direction in directions:
            figure = _figure(task, schedule, direction, chosen, site)
            if figure is not None:
                out.append(figure)
    why = "" if out else ("No translation files on disk for this task: its result files were committed or copied "
                          "without their run folders (translations are never committed). "
                          f"`harness run --task {task} --methods all` makes some.")
    return out, why
