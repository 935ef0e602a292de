"""Assemble one table: pick its results, guard the protocol, fill reported and reproduced cells, rank."""
from __future__ import annotations

import dataclasses
import json

import pandas as pd

from harness.leaderboard import annotate, guard, paper, stats
from harness.leaderboard.collect import EXCLUDED, NO_OVERRIDES, Collection
from harness.leaderboard.stats import Cell
from harness.leaderboard.specs import REFERENCE_MODULE_PREFIX, ColumnSpec, RowSpec, TableSpec
from harness.leaderboard.table import BuiltRow, BuiltTable


def _is_reference(runs: pd.DataFrame, spec: TableSpec) -> pd.Series:
    by_class = runs.method_class.fillna("").astype(str).str.startswith(REFERENCE_MODULE_PREFIX)
    return runs.method.isin(spec.reference_methods) | by_class


def _override_text(key: str) -> str:
    if not key:
        return "defaults"
    return ", ".join(f"{k}={v}" for k, v in json.loads(key).items())


def _varies_only(key: str, vary: tuple[str, ...]) -> bool:
    return not key or set(json.loads(key)) <= set(vary)


def _select_runs(spec: TableSpec, runs: pd.DataFrame) -> tuple[list[RowSpec], list[RowSpec], pd.DataFrame, int]:
    runs = runs[runs.task.isin(spec.tasks)]
    if spec.vary:  # an ablation table: keep runs whose overrides touch only the varied options
        kept = runs.override_key.map(lambda k: _varies_only(k, spec.vary)).astype(bool)
    else:  # `--set` runs are not the method's paper config
        kept = ~runs.has_overrides.astype(bool)
    overrides = int((~kept).sum())
    runs = runs[kept]
    reference = _is_reference(runs, spec)
    competing = runs[~reference]
    if spec.setting:
        competing = competing[competing.setting == spec.setting]
    if spec.auto_rows:
        from harness.leaderboard.names import display_name  # as the paper prints it ("CycleGAN")
        rows = [RowSpec(method=m, label=display_name(m)) for m in sorted(competing.method.unique())]
    else:
        rows = list(spec.rows)
    competing = competing[competing.method.isin([r.source_method for r in rows])]
    if spec.vary:  # one row per (method, override values), defaults first
        keys = {m: sorted(set(g.override_key)) for m, g in competing.groupby("method")}
        rows = [dataclasses.replace(r, overrides=k, override_text=_override_text(k))
                for r in rows for k in keys.get(r.source_method, [NO_OVERRIDES])]
    ref_runs = runs[reference]
    order = {m: i for i, m in enumerate(spec.reference_methods)}
    ref_names = sorted(ref_runs.method.unique(), key=lambda m: (order.get(m, len(order)), m))
    ref_rows = [RowSpec(method=m) for m in ref_names]
    return rows, ref_rows, pd.concat([competing, ref_runs]), overrides


def _index(metrics: pd.DataFrame) -> dict[tuple, list[dict]]:
    """Metric rows keyed by (method, overrides, task, metric), as plain dicts (per-cell pandas filtering is slow)."""
    index: dict[tuple, list[dict]] = {}
    for rec in metrics.to_dict("records"):
        index.setdefault((rec["method"], rec["override_key"], rec["task"], rec["metric"]), []).append(rec)
    return index


def _reproduced(index: dict[tuple, list[dict]], row: RowSpec, column: ColumnSpec) -> Cell:
    hits = [r for r in index.get((row.source_method, row.overrides, column.task, column.metric), [])
            if column.direction in (r["direction_key"], r["direction_name"])]
    ok = sorted((r for r in hits if r["metric_status"] == "ok"), key=lambda r: r["seed"])
    # test-only values are explained once, in the table's "Left out" note, not per file
    reasons = sorted({f"{r['file']}: {r['reason'] or r['metric_status']}" for r in hits
                      if r["metric_status"] not in ("ok", EXCLUDED)})
    stds = [None if pd.isna(r["std"]) else r["std"] for r in ok]
    cell = stats.from_runs([r["value"] for r in ok], stds, [r["seed"] for r in ok], [r["file"] for r in ok],
                           reasons, [r["std_method"] if isinstance(r["std_method"], str) else None for r in ok],
                           [None if pd.isna(r["se"]) else r["se"] for r in ok])
    cell.test_only = any(r["metric_status"] == EXCLUDED for r in hits)
    return cell


def build_table(spec: TableSpec, collection: Collection) -> BuiltTable:
    """The table `spec` filled from `collection`; raises `guard.ProtocolClash` on mixed protocols."""
    rows, ref_rows, runs, overrides = _select_runs(spec, collection.runs)
    metrics = collection.metrics[collection.metrics.file.isin(runs.file)]
    guard.check(spec.name, runs, metrics, by_overrides=bool(spec.vary))
    index, built = _index(metrics), []
    for row, is_ref in [(r, False) for r in rows] + [(r, True) for r in ref_rows]:
        reported = [stats.Cell() if is_ref else stats.from_paper(*(paper.reported(
            spec.paper_table, c.task, c.direction, c.metric, row.method) or (None, None))) for c in spec.columns]
        reproduced = [_reproduced(index, row, c) for c in spec.columns]
        built.append(BuiltRow(row, is_ref, reported, reproduced))
    for i, column in enumerate(spec.columns):
        for source in ("reported", "reproduced"):
            stats.rank([getattr(r, source)[i] for r in built if not r.reference], column.lower_is_better,
                       spec.decimals)
    notes = _annotate(spec, runs, metrics, built) + annotate.spread_notes(spec, metrics)
    notes += annotate.length_notes(runs)
    segmenters = annotate.segmenter_labels(spec, metrics)
    flags, protocol_notes = annotate.protocol_notes(spec, metrics)
    table = BuiltTable(spec, built, files=sorted(runs.file), schedules=sorted(runs.schedule.dropna().unique()),
                       protocols=sorted(runs.metrics_protocol.dropna().unique()), excluded_overrides=overrides,
                       not_evaluated=sorted(runs[~runs.metrics_attempted.astype(bool)].file),
                       caption=annotate.caption(spec, segmenters),
                       column_markers=[annotate.PROTOCOL_MARK if f else "" for f in flags],
                       notes=notes + annotate.segmenter_notes(spec, segmenters) + protocol_notes)
    table.notes += annotate.se_notes(table)
    return table


def _annotate(spec: TableSpec, runs: pd.DataFrame, metrics: pd.DataFrame, built: list[BuiltRow]) -> list[str]:
    """Mark re-implemented rows, append the segmenter-ceiling row; return the notes they need."""
    notes = annotate.excluded_note(spec, metrics)
    provenance = annotate.reimplemented_rows(runs)
    for row in built:
        if row.spec.source_method in provenance:
            row.marker = annotate.REIMPLEMENTED_MARK
    for method, text in provenance.items():
        if any(r.spec.source_method == method for r in built):
            label = next(r.spec.title for r in built if r.spec.source_method == method)
            notes.append(f"{annotate.REIMPLEMENTED_MARK} {label}: {text}.")
    cells = annotate.ceiling_cells(spec, metrics)
    if cells is not None:
        segmenters = annotate.segmenter_labels(spec, metrics)
        label = f"{', '.join(segmenters) or 'segmenter'} on the real test photos"
        row = RowSpec(method=annotate.CEILING_METHOD, label=label)
        built.append(BuiltRow(row, True, [stats.Cell() for _ in cells], cells, ceiling=True))
        notes += annotate.ceiling_note(cells, segmenters)
    return notes
