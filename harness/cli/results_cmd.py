"""`harness results`: every run under a results folder as one table (pandas), optionally saved as CSV."""
from __future__ import annotations

import argparse
import io

import pandas as pd

from harness.io import write_text
from harness.leaderboard.collect import EXCLUDED

SHORT_METRIC = {"target_kid_x100": "tKID", "fused_kid_x100": "fKID", "fcn_per_pixel_acc": "pix",
                "fcn_per_class_acc": "cls", "fcn_mean_iou": "IoU"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("results", help="list runs (task, method, seed, schedule, metrics, wall time); export CSV",
                       description="One row per run, ordered by the task's headline score; columns that are n/a "
                                   "in every run are left out (named in a note); the table fits the terminal.")
    p.add_argument("--results", default="results", help="folder of result files (default: results)")
    p.add_argument("--task", nargs="+", default=[], help="only these tasks")
    p.add_argument("--method", nargs="+", default=[], help="only these methods")
    p.add_argument("--schedule", default=None, help="only this schedule")
    p.add_argument("--csv", default=None, metavar="FILE", help="also write the table to FILE as CSV")
    p.add_argument("--long", action="store_true",
                   help="with --csv: write the tidy long form (one row per run, direction and metric)")
    p.add_argument("--ids", action="store_true", help="name methods by registry id, not as the paper prints them")
    p.add_argument("--report", default=None, metavar="INDEX",
                   help="a report's index.html to name on the closing line (e.g. report/index.html)")
    p.set_defaults(handler=handle)


def _shown(value, status) -> str:
    if status == "ok" and pd.notna(value):
        return f"{value:.4g}"
    return "test-only" if status == EXCLUDED else "n/a"  # test-only: computed, but never a leaderboard number


def runs_table(runs: pd.DataFrame, metrics: pd.DataFrame, for_display: bool = False) -> pd.DataFrame:
    """One row per run; one column per (direction, metric). Values are floats (empty when missing or
    unavailable) for CSV; `for_display` formats them and writes n/a where the metric was unavailable."""
    table = runs[["task", "method", "setting", "schedule", "seed", "status", "metrics_status", "wall_time_s",
                  "file"]].copy()
    if for_display:  # evaluation ran but computed nothing (e.g. no Inception weights): say so
        tried = runs.metrics_attempted.astype(bool) & (runs.metrics_status == "not_evaluated")
        table.loc[tried, "metrics_status"] = "unavailable"
    if not metrics.empty:
        cells = metrics.assign(
            column=metrics.direction_name.astype(str) + " " + metrics.metric.map(lambda m: SHORT_METRIC.get(m, m)),
            shown=[_shown(v, s) for v, s in zip(metrics.value, metrics.metric_status)])
        wide = cells.pivot_table(index="file", columns="column", values="shown" if for_display else "value",
                                 aggfunc="first", dropna=False)
        # A2B before B2A, and per direction the metrics in the paper's order (tKID, fKID, pix, cls, IoU)
        rank = {m: i for i, m in enumerate(SHORT_METRIC)}
        order = cells.drop_duplicates("column").assign(r=cells.metric.map(lambda m: rank.get(m, len(rank))))
        order = order.sort_values(["direction_key", "r", "column"], kind="stable").column.tolist()
        table = table.merge(wide[order], left_on="file", right_index=True, how="left")
    table = table.sort_values(["task", "method", "schedule", "seed"], kind="stable")
    return table[[c for c in table.columns if c != "file"] + ["file"]].reset_index(drop=True)


def handle(args: argparse.Namespace) -> int:
    from harness.cli.results_view import best_line, terminal_table, wrapped
    from harness.errors import UsageError, did_you_mean
    from harness.leaderboard.collect import collect, filter_schedule

    collection = filter_schedule(collect(args.results), args.schedule)
    runs, metrics = collection.runs, collection.metrics
    from harness.registry import METHODS, TASKS
    for option, asked, column, registry in (("--task", args.task, "task", TASKS),
                                            ("--method", args.method, "method", METHODS)):
        known = set(runs[column].dropna().astype(str)) if not runs.empty else set()
        for name in asked:
            if name not in known and name not in registry:  # a typo is a usage error, not an empty listing
                hint = did_you_mean(name, sorted(known | set(registry.names())))
                raise UsageError(f"{option} {name}: no such {column}" + (f"; did you mean {hint[0]}?" if hint else
                                 f" (results exist for: {', '.join(sorted(known)) or 'nothing yet'})"))
    if args.task:
        runs = runs[runs.task.isin(args.task)]
    if args.method:
        runs = runs[runs.method.isin(args.method)]
    metrics = metrics[metrics.file.isin(runs.file)]
    table = runs_table(runs, metrics)
    if table.empty:
        print(f"no result files under {args.results}")
    else:
        print(terminal_table(runs, metrics, ids=args.ids))
        closing = best_line(runs, metrics, ids=args.ids)
        if args.report:  # one closing line: the winners, then where the figures are
            closing = closing or ["no headline score yet"]
            closing[-1] += f" · figures and every run: open {args.report}"
        for line in closing:
            print(wrapped(line))
    if args.csv:
        frame = metrics if args.long else table
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False, lineterminator="\n")
        write_text(args.csv, buffer.getvalue())
        print(f"wrote {args.csv} ({len(frame)} rows)")
    return 0
