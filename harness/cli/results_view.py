"""The runs table as the terminal shows it (`harness results`, the end of `./run.sh demo`): methods by
their display names, per task ordered by the headline score (best first), columns that are n/a in
every run left out with a one-line note, constant columns (one schedule, one seed) said once above the
table, and metric columns dropped from the right until it fits the terminal (also noted)."""
from __future__ import annotations

import shutil
import textwrap
from typing import Optional

import pandas as pd

from harness.headline import headline_for
from harness.leaderboard.collect import EXCLUDED
from harness.leaderboard.names import display_name
from harness.leaderboard.specs import DEFAULT_REFERENCE_METHODS, REFERENCE_MODULE_PREFIX

SHORT_METRIC = {"fcn_mean_iou": "mIoU", "fcn_per_pixel_acc": "pix", "fcn_per_class_acc": "cls",
                "target_kid_x100": "tKID", "fused_kid_x100": "fKID", "target_fid": "tFID", "fused_fid": "fFID"}
STATUS = {"evaluated": "all", "partial": "some n/a", "not_evaluated": "none yet", "unavailable": "none (n/a)"}
DEFAULT_WIDTH = 120


def _width() -> int:
    return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns or DEFAULT_WIDTH


def _cell(value, status) -> str:
    if status == "ok" and pd.notna(value):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return "test-only" if status == EXCLUDED else "n/a"


def _frame(runs: pd.DataFrame, metrics: pd.DataFrame, ids: bool) -> tuple[pd.DataFrame, list[str], dict]:
    """(display frame, metric column names in order, {task: (headline column names, lower is better)})."""
    frame = pd.DataFrame({"file": runs.file, "task": runs.task.astype(str),
                          "method": [display_name(str(m), ids) for m in runs.method],
                          "schedule": runs.schedule.astype(str), "seed": runs.seed,
                          "config": ["--set" if o else "" for o in runs.has_overrides],
                          "metrics": [STATUS.get(s, str(s)) for s in runs.metrics_status],
                          "time": [f"{t:.0f}s" if pd.notna(t) else "" for t in runs.wall_time_s]})
    tried = (runs.metrics_attempted.astype(bool) & (runs.metrics_status == "not_evaluated")).to_numpy()
    frame.loc[tried, "metrics"] = STATUS["unavailable"]
    columns, headlines = [], {}
    if not metrics.empty:
        rank = {m: i for i, m in enumerate(SHORT_METRIC)}
        cells = metrics.assign(column=metrics.direction_name.astype(str) + " "
                               + metrics.metric.map(lambda m: SHORT_METRIC.get(m, m)),
                               shown=[_cell(v, s) for v, s in zip(metrics.value, metrics.metric_status)],
                               r=metrics.metric.map(lambda m: rank.get(m, len(rank))))
        order = cells.drop_duplicates("column").sort_values(["r", "direction_key", "column"], kind="stable")
        columns = order.column.tolist()
        wide = cells.pivot_table(index="file", columns="column", values="shown", aggfunc="first")
        frame = frame.merge(wide[columns], left_on="file", right_index=True, how="left")
        for task, group in metrics.groupby(metrics.file.map(dict(zip(runs.file, runs.task)))):
            headline = headline_for(str(task), set(group.metric))
            if headline is not None:
                keys = order[order.metric == headline.metric].column.tolist()
                headlines[str(task)] = (keys, headline)
    return frame.fillna("—"), columns, headlines


def _score(row: pd.Series, keys: list[str]) -> Optional[float]:
    values = []
    for key in keys:
        try:
            values.append(float(row[key]))
        except (KeyError, ValueError):
            continue
    return sum(values) / len(values) if values else None


def terminal_table(runs: pd.DataFrame, metrics: pd.DataFrame, ids: bool = False, width: Optional[int] = None) -> str:
    frame, columns, headlines = _frame(runs, metrics, ids)
    notes = []
    empty = [c for c in columns if set(frame[c]) <= {"n/a", "—"}]
    if empty:
        notes.append(f"not shown, n/a in every run: {', '.join(empty)} (reasons: `harness run`/`harness evaluate` "
                     "print them; the report lists them per run)")
    columns = [c for c in columns if c not in empty]
    frame["_score"] = [(_score(r, headlines[r.task][0]) if r.task in headlines else None) for _, r in frame.iterrows()]
    frame["_key"] = [headlines[r.task][1].sort_key(r._score) if r.task in headlines else (1, 0.0)
                     for _, r in frame.iterrows()]
    frame = frame.sort_values(["task", "_key", "method", "seed"], kind="stable")
    said = []
    base = ["task", "method", "schedule", "seed", "config", "metrics", "time"]
    for column in ("task", "schedule", "seed", "config"):
        values = set(frame[column].astype(str))
        if len(values) == 1:
            base.remove(column)
            value = values.pop()
            if value:
                said.append(f"{column} {value}")
    width = width or _width()
    reference = (runs.method.isin(DEFAULT_REFERENCE_METHODS) | runs.method_class.fillna("").astype(str)
                 .str.startswith(REFERENCE_MODULE_PREFIX))
    refs = {display_name(str(m), ids) for m in runs.method[reference]}
    frame["method"] = [f"{m} (reference)" if m in refs else m for m in frame.method]
    for column in ("task", "method", "schedule", "config", "metrics"):  # text reads left-aligned
        longest = max([len(column)] + [len(str(v)) for v in frame[column]])
        frame[column] = [str(v).ljust(longest) for v in frame[column]]
    shown = list(columns)
    while True:
        text = frame[base[:-2] + shown + base[-2:]].to_string(index=False, justify="left")
        if max(len(line) for line in text.splitlines()) <= width or not shown:
            break
        shown.pop()
    if len(shown) < len(columns):
        notes.append(f"not shown to fit {width} columns: {', '.join(columns[len(shown):])} (`--csv FILE` has all)")
    lines = ([", ".join(said)] if said else []) + [text] + [textwrap.fill(n, width, subsequent_indent="  ")
                                                            for n in notes]
    for task, (keys, headline) in headlines.items():
        if keys and keys[0] in shown:
            lines.append(f"rows ordered by {headline.label} {headline.arrow} (mean of {', '.join(keys)})"
                         + (f" on {task}" if len(headlines) > 1 else ""))
    return "\n".join(lines)


def wrapped(line: str) -> str:
    return textwrap.fill(line, _width(), subsequent_indent="  ")


def best_line(runs: pd.DataFrame, metrics: pd.DataFrame, ids: bool = False) -> list[str]:
    """Per task and direction the best method by the headline score, competitors only."""
    frame, _, headlines = _frame(runs, metrics, ids)
    reference = (runs.method_class.fillna("").astype(str).str.startswith(REFERENCE_MODULE_PREFIX)
                 | runs.method.isin(DEFAULT_REFERENCE_METHODS)).to_numpy()
    frame = frame[~reference]  # reference rows (identity, …) never win
    out = []
    for task, (keys, headline) in headlines.items():
        parts = []
        rows = frame[frame.task == task]
        for key in keys:
            scored = [(float(v), m) for v, m in zip(rows[key], rows.method) if v not in ("n/a", "—", "test-only")]
            if scored:
                value, method = min(scored) if headline.lower_is_better else max(scored)
                parts.append(f"{key.rsplit(' ', 1)[0]}: {method} ({headline.label} {value:.3f})")
        if parts:
            out.append(f"best on {task}: " + "; ".join(parts))
    return out
