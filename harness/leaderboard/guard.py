"""Protocol guard: one table never mixes results that were produced under different protocols.

Across a whole table: result schema version, schedule, effective batch, metric protocol version.
Per task: task (protocol) version, data manifest digest, split digest.
Per (task, direction, metric): metric_id and the weights hash of its feature extractor / segmenter.
And no two results may fill the same (method, task, seed).
A clash raises `ProtocolClash`, naming each conflicting value and the result files that carry it.
"""
from __future__ import annotations

import pandas as pd

from harness.errors import HarnessError

MAX_FILES_LISTED = 4


class ProtocolClash(HarnessError):
    """Results that cannot share a table; the message lists the clashing files."""


def _describe(frame: pd.DataFrame, column: str) -> str:
    parts = []
    for value, group in frame.groupby(column, dropna=False, sort=True):
        files = sorted(set(group.file))
        shown = ", ".join(files[:MAX_FILES_LISTED])
        more = f" and {len(files) - MAX_FILES_LISTED} more" if len(files) > MAX_FILES_LISTED else ""
        parts.append(f"    {column}={value!r}: {shown}{more}")
    return "\n".join(parts)


def _distinct(frame: pd.DataFrame, column: str) -> int:
    return frame[column].astype(str).nunique(dropna=False)


def check(table: str, runs: pd.DataFrame, metrics: pd.DataFrame, by_overrides: bool = False) -> None:
    """Raise `ProtocolClash` if the selected `runs` (and their ok `metrics` rows) mix protocols.

    `by_overrides`: an ablation table, where runs of one method and seed differ by their `--set` values.
    """
    problems: list[str] = []
    for column, what in (("schema_version", "result schema versions"), ("schedule", "schedules")):
        if _distinct(runs, column) > 1:
            hint = " (choose one with --schedule)" if column == "schedule" else ""
            problems.append(f"  different {what}{hint}:\n{_describe(runs, column)}")
    batches = runs[runs.effective_batch.notna()]
    if _distinct(batches, "effective_batch") > 1:  # batch x processes changes the optimisation itself
        problems.append("  different effective batches (batch size x processes; put runs made with --batch-size "
                        "or several processes in their own --results folder):\n"
                        + _describe(batches, "effective_batch"))
    evaluated = runs[runs.metrics_protocol.notna()]
    if _distinct(evaluated, "metrics_protocol") > 1:
        problems.append(f"  different metric protocols:\n{_describe(evaluated, 'metrics_protocol')}")
    for task, group in runs.groupby("task", sort=True):
        for column, what in (("task_version", "task versions"), ("manifest_digest", "data manifest digests"),
                             ("split_digest", "split digests")):
            if _distinct(group, column) > 1:
                problems.append(f"  {task}: different {what}:\n{_describe(group, column)}")
        key = ["method", "override_key", "seed"] if by_overrides else ["method", "seed"]
        dupes = group[group.duplicated(key, keep=False)]
        for (method, *_, seed), dup in dupes.groupby(key, sort=True):
            problems.append(f"  {task}: {len(dup)} results for {method} seed {seed}: {', '.join(sorted(dup.file))}")
    ok = metrics[metrics.metric_status == "ok"]
    # Per direction: the FCN score of photo→label (palette colours) and of label→photo (a segmenter)
    # are different instruments by design; only results in the same column must agree.
    for (task, direction, metric), group in ok.groupby(["task", "direction_name", "metric"], sort=True):
        for column in ("metric_id", "weights_sha256"):
            if _distinct(group, column) > 1:
                problems.append(f"  {task} {direction} {metric}: different {column}:\n{_describe(group, column)}")
    if problems:
        raise ProtocolClash(f"table {table} refuses to mix results from different protocols:\n" + "\n".join(problems))
