"""What index.html shows, as plain data: a summary (tasks, runs, schedules; per table with numbers the
best method per column), the tables with reproduced numbers first, the empty ones collapsed to one line
saying which runs fill them, and the runs in words (method, schedule, seed, overrides, headline score)."""
from __future__ import annotations

from collections import Counter
from typing import Any, Optional

from harness.headline import headline_for, mean_score, result_metrics
from harness.leaderboard.table import BuiltTable
from harness.leaderboard.names import display_name
from harness.report.run_view import status_words
from harness.report.tables import table_view


def _fill_hint(table: BuiltTable) -> str:
    spec = table.spec
    tasks = list(spec.tasks)
    setting = f" ({spec.setting})" if spec.setting else ""
    schedule = "paper" if spec.paper_table is not None else "demo" if tasks == ["demo"] else "short"
    return (f"filled by runs on {', '.join(tasks)}{setting}, e.g. "
            f"harness run --task {tasks[0] if tasks else 'TASK'} --methods all --schedule {schedule}")


def _run_link(pages: list, method: str, tasks: tuple[str, ...], schedules: list[str]) -> Optional[str]:
    """The run page behind a table row: that method's run on the table's task and schedule, lowest seed."""
    fits = [p for p in pages if p.method == method and p.task in tasks
            and (not schedules or str(p.result.get("schedule")) in schedules) and not p.overrides]
    fits.sort(key=lambda p: (p.result.get("seed", 0), p.run_id))
    return f"runs/{fits[0].slug}.html" if fits else None


def best_per_column(table: BuiltTable) -> list[dict[str, str]]:
    """Per column the bold (best) competitor and its value, as the table shows it."""
    out = []
    d = table.spec.decimals
    for i in range(len(table.spec.columns)):
        best = [r for r in table.competitors if r.reproduced[i].bold and r.reproduced[i].present]
        if best:
            out.append({"column": table.column_title(i), "method": " = ".join(r.title for r in best),
                        "value": f"{best[0].reproduced[i].mean:.{d}f}"})
    return out


def index_tables(written: list[BuiltTable], pages: list) -> tuple[list[dict], list[dict]]:
    """(tables with reproduced numbers, empty tables), each a template view with links and a summary."""
    full, empty = [], []
    for table in written:
        view = table_view(table)
        for row_view, row in zip(view["body"] + [r for g in view["groups"] for r in g["rows"]],
                                 table.competitors + table.references + table.ceilings):
            row_view["link"] = None if row.ceiling else _run_link(pages, row.spec.source_method,
                                                                  table.spec.tasks, table.schedules)
        view["files"] = {ext: f"tables/{table.spec.name}.{ext}" for ext in ("md", "tex", "csv")}
        view["best"] = best_per_column(table)
        view["fill"] = _fill_hint(table)
        (full if view["filled"] else empty).append(view)
    return full, empty


def summary(pages: list) -> dict[str, Any]:
    tasks = Counter(p.task for p in pages)
    schedules = Counter(str(p.result.get("schedule")) for p in pages)
    return {"runs": len(pages), "methods": len({p.method for p in pages}),
            "tasks": [{"name": t, "runs": n} for t, n in sorted(tasks.items())],
            "schedules": [{"name": s, "runs": n} for s, n in schedules.most_common()]}


def overrides_words(overrides: dict) -> str:
    return ", ".join(f"{k} = {v}" for k, v in overrides.items()) if overrides else "defaults"


def run_rows(pages: list) -> list[dict[str, Any]]:
    """The runs list: per task ordered by schedule, then the task's headline score (best first)."""
    rows = []
    for page in pages:
        headline = headline_for(page.task, result_metrics(page.result))
        score = mean_score(page.result, headline.metric) if headline else None
        run = page.result.get("run") or {}
        rows.append({"page": page, "task": page.task, "method": display_name(page.method),
                     "schedule": str(page.result.get("schedule")), "seed": page.result.get("seed"),
                     "overrides": overrides_words(page.overrides),
                     "score": "" if score is None else f"{score:.3g}",
                     "score_label": f"{headline.label} {headline.arrow}" if headline else "",
                     "sort": headline.sort_key(score) if headline else (1, 0.0),
                     "status": status_words((page.result.get("metrics") or {}).get("status")),
                     "steps": run.get("steps", ""),
                     "wall": f"{run['wall_time_s']:.0f} s" if run.get("wall_time_s") is not None else ""})
    rows.sort(key=lambda r: (r["task"], r["schedule"], r["sort"], r["method"], r["seed"] or 0))
    return rows
