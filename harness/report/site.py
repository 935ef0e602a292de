"""`harness report`: a static HTML site from the result files alone.

index.html      a summary (tasks, runs, schedules, the best method per column), the tables with
                reproduced numbers (sortable; methods link to their runs; .md/.tex/.csv beside them),
                the empty tables one line each, and every run in words
tasks/<t>.html  per task, schedule and direction: the same test images translated by every method, beside
                the input and ground truth, ordered by the task's headline score (task_view.py)
runs/<r>.html   per run: its metrics first (each unavailable reason once), loss curves and sample grids,
                the config as a table and the command that reruns it (run_view.py)

Pages are jinja2 templates (templates/), figures matplotlib PNGs; every link is relative and every
image is copied into the site, so the folder can be copied or served anywhere. The new site is built
beside the old one and swapped in at once (leaderboard/publish.py).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from jinja2 import ChainableUndefined, Environment, PackageLoader, select_autoescape

from harness.claims.page import claims_context
from harness.io import write_text
from harness.leaderboard import build_tables, write_table
from harness.leaderboard.publish import replace_folder
from harness.report import index_view, run_view
from harness.report.diagnostics import run_extras
from harness.report.task_view import task_figures
from harness.results import now_iso
from harness.safety.images import IMAGE_ERRORS
from harness.safety.out_folder import check_out_folder
from harness.safety.paths import safe_slug
from harness.safety.result_files import iter_usable_results, unique_slugs

log = logging.getLogger("harness.report")


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
                page.images = run_view.run_pictures(page, site)
            except IMAGE_ERRORS as exc:  # one broken image costs its run's figures, not the report
                log.warning("%s: figures left out (%s)", page.rel, str(exc).splitlines()[0] if str(exc) else exc)
                page.images = {}
            write_text(site / "runs" / f"{page.slug}.html", env.get_template("run.html").render(
                root="../", page=page, metrics=run_view.metric_matrix(page.result),
                config=run_view.config_rows(page.result), rerun=run_view.rerun_command(page.result),
                status=run_view.status_words((page.result.get("metrics") or {}).get("status")),
                maps=run_view.has_maps(page.images, page.result), extras=run_extras(page.result), **common))
        tasks = []
        for task, task_pages in sorted(by_task.items()):
            try:
                figs, none_why = task_figures(task, task_pages, site)
            except IMAGE_ERRORS as exc:
                log.warning("task %s: figures left out (%s)", task, str(exc).splitlines()[0] if str(exc) else exc)
                figs, none_why = [], f"figures left out: {str(exc).splitlines()[0] if str(exc) else exc}"
            tasks.append({"name": task, "slug": _slug(task), "runs": len(task_pages)})
            write_text(site / "tasks" / f"{_slug(task)}.html", env.get_template("task.html").render(
                root="../", task=task, figures=figs, none_why=none_why,
                runs=index_view.run_rows(task_pages), **common))
        write_text(site / "claims.html", env.get_template("claims.html").render(
            root="", **claims_context(results, schedule, table_dirs), **common))
        written = sorted(outcome.written, key=lambda t: (t.spec.paper_table is None, t.spec.paper_table or 0,
                                                          t.spec.name))  # the paper's tables first
        for table in written:  # the same files `harness leaderboard` writes, linked from each table
            write_table(table, site / "tables")
        full, empty = index_view.index_tables(written, pages)
        write_text(site / "index.html", env.get_template("index.html").render(
            root="", tables=full, empty=empty, refused=outcome.refused, tasks=tasks,
            summary=index_view.summary(pages), runs=index_view.run_rows(pages), **common))
    log.debug("wrote %s (%d tables, %d tasks, %d runs)", out / "index.html", len(written), len(tasks), len(pages))
    return out / "index.html"
