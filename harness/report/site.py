"""`harness report`: a static HTML site from the result files alone.

index.html      every leaderboard table with its notes, and every run
tasks/<t>.html  per task and direction: the same test images translated by every method, beside the real ones
runs/<r>.html   per run: its record (config, provenance, metrics), loss curves, sample grids with attention
                maps, and the snapshots taken during training

Pages are jinja2 templates (templates/), figures matplotlib PNGs; every link is relative and every
image is copied into the site, so the folder can be copied or served anywhere. The new site is built
beside the old one and swapped in at once (leaderboard/publish.py).
"""
from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from jinja2 import ChainableUndefined, Environment, PackageLoader, select_autoescape

from harness.data.layouts import ImageRef
from harness.io import write_text
from harness.leaderboard import build_tables
from harness.leaderboard.publish import replace_folder
from harness.report import figures
from harness.report.tables import table_view
from harness.results import now_iso
from harness.safety.images import IMAGE_ERRORS
from harness.safety.out_folder import check_out_folder
from harness.safety.paths import inside, regular_files, safe_slug
from harness.safety.result_files import iter_usable_results, split_test_lines, unique_slugs

log = logging.getLogger("harness.report")
METRIC_ORDER = ("target_kid_x100", "fused_kid_x100", "target_fid", "fused_fid")


@dataclass
class RunPage:
    slug: str
    run_dir: Path
    rel: str  # result file relative to the results folder
    result: dict
    images: dict[str, list[dict]] = field(default_factory=dict)  # section -> [{src, caption}]

    @property
    def task(self) -> str:
        return (self.result.get("task") or {}).get("name", "?")

    @property
    def method(self) -> str:
        return str(self.result.get("method"))

    @property
    def run_id(self) -> str:
        return str((self.result.get("run") or {}).get("run_id") or self.run_dir.name)

    @property
    def overrides(self) -> dict:
        return (self.result.get("config") or {}).get("overrides") or {}


_slug = safe_slug  # names from result files: sanitised, and two names never share a slug


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("harness.report", "templates"), autoescape=select_autoescape(["html"]),
                      undefined=ChainableUndefined,  # result files of older schemas lack fields: empty, not an error
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["pretty"] = lambda obj: json.dumps(obj, indent=2, sort_keys=False, default=str)
    return env


def _metric_rows(result: dict) -> list[dict]:
    names = result.get("directions") or {}
    rows = []
    for key, entries in ((result.get("metrics") or {}).get("directions") or {}).items():
        order = sorted(entries or {}, key=lambda m: (METRIC_ORDER.index(m) if m in METRIC_ORDER else 99, m))
        for metric in order:
            e = entries[metric] or {}
            value = e.get("value")
            spread = f" ± {e['std']:.2g}" if e.get("std") is not None else ""
            shown = "" if value is None else f"{value:.4g}{spread}"
            rows.append({"direction": f"{names.get(key, key)} ({key})", "metric": metric, "status": e.get("status"),
                         "value": shown, "detail": e.get("reason") or e.get("std_method") or ""})
    return rows


def _copy(src: Optional[Path], site: Path, rel: str) -> Optional[str]:
    """Copy `src` (already checked to lie inside its run folder) to `site/rel`."""
    if src is None:
        return None
    target = site / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, target)
    return rel


def _run_assets(page: RunPage, site: Path) -> None:
    """Loss curves, sample grids and snapshots of one run, copied/drawn under img/<slug>/."""
    base = f"img/{page.slug}"
    losses = inside(page.run_dir, "losses.jsonl")
    loss = figures.loss_figure(losses, site / base / "losses.png",
                               f"{page.method} on {page.task} ({page.run_id})") if losses else None
    if loss is not None:
        page.images["Loss curves"] = [{"src": f"{base}/losses.png", "caption": "mean loss per logging interval"}]
    samples = []
    names = page.result.get("directions") or {}
    for direction, info in (page.result.get("samples") or {}).items():
        # the source only inside the run folder, the target named by us, never by the record
        src = _copy(inside(page.run_dir, info.get("file"), what="samples file"), site,
                    f"{base}/samples_{_slug(direction)}.png")
        if src:
            cols = ", ".join(info.get("columns") or [])
            samples.append({"src": src, "caption": f"{names.get(direction, direction)}: {cols}"})
    if samples:
        page.images["Samples (as scored: test-time mode, batch 1)"] = samples
    snaps = []
    snap_dir = inside(page.run_dir, "snapshots", "dir", "snapshots folder")
    for path in regular_files(snap_dir, "step*_*.png", page.run_dir) if snap_dir else []:
        step, _, direction = path.stem.partition("_")
        if not step[4:].isdigit():
            continue
        src = _copy(path, site, f"{base}/snapshots/{_slug(path.stem)}.png")
        snaps.append({"src": src, "caption": f"{names.get(direction, direction)} at step {int(step[4:])}"})
    if snaps:
        page.images["Snapshots during training (same test images)"] = snaps


def _split_paths(run_dir: Path, result: dict) -> dict[tuple[str, str], ImageRef]:
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


def _task_figures(task: str, pages: list[RunPage], site: Path) -> list[dict]:
    """One side-by-side figure per direction: one run per method (no overrides, lowest seed)."""
    chosen: dict[str, RunPage] = {}
    for page in sorted(pages, key=lambda p: (bool(p.overrides), p.result.get("seed", 0), p.run_id)):
        chosen.setdefault(page.method, page)
    out = []
    directions = sorted({d for p in chosen.values() for d in (p.result.get("translations") or {})})
    for direction in directions:
        columns: dict[str, dict[str, Path]] = {}
        for method, page in sorted(chosen.items()):
            info = (page.result.get("translations") or {}).get(direction)
            folder = inside(page.run_dir, info.get("dir"), "dir", "translations folder") \
                if isinstance(info, dict) else None
            if folder is not None:
                columns[method] = {p.stem: p for p in regular_files(folder, "*.png", page.run_dir)}
        if not columns:
            continue
        ids = sorted(set.intersection(*(set(c) for c in columns.values())))
        any_page = next(iter(chosen.values()))
        paths = _split_paths(any_page.run_dir, any_page.result)
        src_side, dst_side = direction[0], direction[-1]
        inputs = {i: paths.get((src_side, i)) for i in ids}
        paired = all((dst_side, i) in paths for i in ids[:figures.MAX_ROWS]) and bool(ids)
        target_ids = [i for (s, i) in sorted(paths) if s == dst_side]
        targets = {i: paths.get((dst_side, i)) for i in ids} if paired else \
            {i: paths.get((dst_side, t)) for i, t in zip(ids, target_ids)}
        name = (any_page.result.get("directions") or {}).get(direction, direction)
        label = "ground truth" if paired else "real target (unpaired)"
        rel = f"img/task-{_slug(task, direction)}.png"
        figures.side_by_side(ids, {k: v for k, v in inputs.items() if v}, columns,
                             {k: v for k, v in targets.items() if v}, site / rel,
                             f"{task} {name}: the same test images, every method", label)
        missing = not any(p and p.path.is_file() for p in inputs.values())
        out.append({"src": rel, "direction": f"{name} ({direction})", "methods": list(columns),
                    "note": f"input images not found under {any_page.result.get('data', {}).get('root')} on this "
                            "machine (blank tiles)" if missing else ""})
    return out


def write_report(results: str | Path = "results", out: str | Path = "report", schedule: Optional[str] = None,
                 table_dirs: tuple[Path, ...] = ()) -> Path:
    """Write the site to `out` (replaced as a whole) and return the path of its index.html."""
    results, out = Path(results), Path(out)
    check_out_folder(out, results, "report")
    specs, outcome = build_tables(results, schedule, table_dirs)
    pages = [RunPage(_slug(r.get("task", {}).get("name", "?"), str(r.get("method")), p.parent.name), p.parent,
                     p.relative_to(results).as_posix(), r) for p, r in iter_usable_results(results)] \
        if results.is_dir() else []
    unique_slugs(pages)
    env = _environment()
    by_task: dict[str, list[RunPage]] = {}
    for page in pages:
        by_task.setdefault(page.task, []).append(page)
    with replace_folder(out, keep_existing=False, marker="report") as site:
        common = {"generated": now_iso(), "results": results.as_posix()}
        (site / "style.css").write_text((Path(__file__).parent / "templates" / "style.css").read_text("utf-8"),
                                        encoding="utf-8")
        for page in pages:
            try:
                _run_assets(page, site)
            except IMAGE_ERRORS as exc:  # one broken image costs its run's figures, not the report
                log.warning("%s: figures left out (%s)", page.rel, str(exc).splitlines()[0] if str(exc) else exc)
            write_text(site / "runs" / f"{page.slug}.html", env.get_template("run.html").render(
                root="../", page=page, metrics=_metric_rows(page.result), **common))
        tasks = []
        for task, task_pages in sorted(by_task.items()):
            try:
                figs = _task_figures(task, task_pages, site)
            except IMAGE_ERRORS as exc:
                log.warning("task %s: figures left out (%s)", task, str(exc).splitlines()[0] if str(exc) else exc)
                figs = []
            tasks.append({"name": task, "slug": _slug(task), "runs": len(task_pages)})
            write_text(site / "tasks" / f"{_slug(task)}.html", env.get_template("task.html").render(
                root="../", task=task, figures=figs, pages=sorted(task_pages, key=lambda p: (p.method, p.run_id)),
                **common))
        written = sorted(outcome.written, key=lambda t: (t.spec.paper_table is None, t.spec.paper_table or 0,
                                                          t.spec.name))  # the paper's tables first
        views = [table_view(t) for t in written]
        write_text(site / "index.html", env.get_template("index.html").render(
            root="", tables=views, refused=outcome.refused, tasks=tasks,
            pages=sorted(pages, key=lambda p: (p.task, p.method, p.run_id)), **common))
    log.info("wrote %s (%d tables, %d tasks, %d runs)", out / "index.html", len(views), len(tasks), len(pages))
    return out / "index.html"
