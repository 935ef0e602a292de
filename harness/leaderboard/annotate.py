"""What a table says about its numbers beyond the numbers, read from evaluation's metadata.

- Entries marked `for_leaderboards: false` (test-only extractors/segmenters) never fill a cell
  (`collect` gives them the status `not_for_leaderboards`); a note says how many were left out.
- The segmenter ceiling: evaluation records, on every label→photo FCN entry, `ceiling` = the
  same segmenter's score on the real test photos. The table shows it as a separate reference row
  (never competing), one value per column, taken from the table's own result files.
- Methods whose config says they are reconstructions (`provenance` / `reimplemented: true`) get
  the marker † and a footnote with the recorded provenance.
- Columns whose entries carry a `protocol_note` (fused-KID: the paper does not define it) get the
  marker ‡ and a footnote with the note and the fused mode.
- Closeness and significance of single runs use each value's standard error (`se`, recorded by
  evaluation: KID's calibrated jackknife), not the paper-convention std printed after ±; a note says
  so. `with_se_shown` prints the se after ± instead (`harness leaderboard --show-se`).
- The segmenter that produced label→photo FCN numbers is named in the caption (`{fcn_score}` in a
  table title) and in a note, so ESPNet numbers never pass for the paper's Caffe FCN-8s.
"""
from __future__ import annotations

import copy
from typing import Optional

import numpy as np
import pandas as pd

from harness.leaderboard.collect import EXCLUDED
from harness.leaderboard.specs import TableSpec
from harness.leaderboard.stats import Cell
from harness.leaderboard.table import BuiltTable

REIMPLEMENTED_MARK = "†"
PROTOCOL_MARK = "‡"
CEILING_METHOD = "segmenter-ceiling"
FCN_PLACEHOLDER = "{fcn_score}"
FCN_METRICS = ("fcn_per_pixel_acc", "fcn_per_class_acc", "fcn_mean_iou")


def _column_masks(metrics: pd.DataFrame, spec: TableSpec) -> list[np.ndarray]:
    """Per column of the table, which rows of `metrics` fill it. On plain object arrays, each read once: a
    table asks this of small frames several times, where pandas' per-call cost (arrow-backed string
    comparisons) was most of a leaderboard's time."""
    task, metric, key, name = (metrics[c].to_numpy(dtype=object, na_value=None)
                               for c in ("task", "metric", "direction_key", "direction_name"))
    return [(task == c.task) & (metric == c.metric) & ((key == c.direction) | (name == c.direction))
            for c in spec.columns]


def _column_rows(metrics: pd.DataFrame, spec: TableSpec) -> list[pd.DataFrame]:
    """Per column of the table, the rows of `metrics` that fill it."""
    if metrics.empty:
        return [metrics] * len(spec.columns)
    return [metrics[mask] for mask in _column_masks(metrics, spec)]


def _table_rows(metrics: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """The rows of `metrics` that fill any column of the table (each once)."""
    if metrics.empty or not spec.columns:
        return metrics.iloc[:0]
    return metrics[np.logical_or.reduce(_column_masks(metrics, spec))]


def ceiling_cells(spec: TableSpec, metrics: pd.DataFrame) -> Optional[list[Cell]]:
    """Per column, the segmenter ceiling recorded by the table's results; None when no column has one."""
    ok = metrics[(metrics.metric_status == "ok") & metrics.ceiling.notna()]
    cells, found = [], False
    for rows in _column_rows(ok, spec):
        rows = rows.drop_duplicates("file")
        if rows.empty:
            cells.append(Cell())
            continue
        found = True
        values = sorted(rows.ceiling.astype(float))
        cell = Cell(mean=float(sum(values) / len(values)), n=len(values), files=tuple(sorted(rows.file)))
        cell.extra["range"] = (values[0], values[-1])
        cells.append(cell)
    return cells if found else None


def segmenter_labels(spec: TableSpec, metrics: pd.DataFrame) -> list[str]:
    """Display names of the segmenters behind the table's FCN numbers (label→photo entries)."""
    ok = metrics[(metrics.metric_status == "ok") & metrics.metric.isin(FCN_METRICS) & metrics.segmenter.notna()]
    ok = ok[ok.task.isin(spec.tasks)]
    labels = [lab if isinstance(lab, str) and lab else seg for seg, lab in zip(ok.segmenter, ok.segmenter_label)]
    return sorted(set(labels))


def caption(spec: TableSpec, segmenters: list[str]) -> str:
    """The table title with `{fcn_score}` naming the segmenter that produced the reproduced numbers."""
    if FCN_PLACEHOLDER not in spec.title:
        return spec.title
    what = f"FCN-score ({', '.join(segmenters)})" if segmenters else "FCN scores"
    return spec.title.replace(FCN_PLACEHOLDER, what)


def segmenter_notes(spec: TableSpec, segmenters: list[str]) -> list[str]:
    if not any(c.metric in FCN_METRICS for c in spec.columns):
        return []
    in_paper = spec.paper_table is not None
    paper = " the paper's columns are Caffe FCN-8s scores as printed;" if in_paper else ""
    if segmenters:
        ours = (f" the reproduced label→photo scores use {', '.join(segmenters)}, not FCN-8s"
                + (", so their Δ compares two different segmenters;" if in_paper else ";"))
    else:
        ours = " no reproduced label→photo score yet;"
    return [f"FCN score:{paper}{ours} photo→label scores map each generated label image to the nearest "
            "palette colour (no segmenter)."]


def ceiling_note(cells: list[Cell], segmenters: list[str]) -> list[str]:
    who = ", ".join(segmenters) or "the segmenter"
    notes = [f"Segmenter ceiling: what the real test photos score with {who} (how far generated photos are from "
             "real ones for this segmenter); recorded by evaluation with each label→photo result, not a competitor."]
    spread = [c for c in cells if c.present and c.extra["range"][1] - c.extra["range"][0] > 1e-9]
    if spread:
        lo = min(c.extra["range"][0] for c in spread)
        hi = max(c.extra["range"][1] for c in spread)
        notes.append(f"The segmenter ceiling differs across result files ({lo:.4f} … {hi:.4f}; e.g. different "
                     "devices); the row shows the mean.")
    return notes


def excluded_note(spec: TableSpec, metrics: pd.DataFrame) -> list[str]:
    """One note for every value in the table's columns that a test-only tool computed."""
    gone = _table_rows(metrics[metrics.metric_status == EXCLUDED], spec)
    if gone.empty:
        return []
    tools = ", ".join(sorted(set(gone.tool.dropna().astype(str)))) or "unnamed"
    files = sorted(set(gone.file))
    shown = ", ".join(files[:3]) + (" …" if len(files) > 3 else "")
    return [f"Left out: {len(gone)} metric value(s) from {len(files)} result file(s) computed with test-only tools "
            f"({tools}; for_leaderboards: false), shown as n/a: {shown}."]


def length_notes(runs: pd.DataFrame) -> list[str]:
    """One note when the table's trained rows differ in training steps (a schedule's `per_setting` or
    `per_method` values, e.g. the demo's), naming the methods at each length."""
    steps = pd.to_numeric(runs.steps, errors="coerce")
    trained = runs.assign(steps=steps)[steps.notna() & (steps > 0)]  # reference rows train nothing
    if trained.steps.nunique() < 2:
        return []
    parts = [f"{int(n)} steps: {', '.join(sorted(set(map(str, group.method))))}"
             for n, group in trained.groupby("steps", sort=True)]
    return ["Training lengths differ between rows (the schedule's per-setting or per-method values; each result "
            "records the schedule it trained with): " + "; ".join(parts) + "."]


def reimplemented_rows(runs: pd.DataFrame) -> dict[str, str]:
    """method → provenance text, for methods whose runs say they are reconstructions."""
    out: dict[str, str] = {}
    for method, group in runs[runs.reimplemented.astype(bool)].groupby("method", sort=True):
        texts = sorted({str(p) for p in group.provenance.dropna() if str(p)})
        out[method] = "; ".join(texts) or "re-implemented in this harness (no official code used)"
    return out


def protocol_notes(spec: TableSpec, metrics: pd.DataFrame) -> tuple[list[bool], list[str]]:
    """Per column: whether its entries carry a `protocol_note`; and the notes to print."""
    ok = metrics[(metrics.metric_status == "ok") & metrics.protocol_note.notna()]
    flags, notes = [], []
    for rows in _column_rows(ok, spec):
        flags.append(not rows.empty)
        for note in sorted(set(rows.protocol_note.astype(str))):
            modes = sorted(set(rows[rows.protocol_note == note].fused_mode.dropna().astype(str)))
            notes.append(f"{PROTOCOL_MARK} {note}" + (f"; fused mode: {', '.join(modes)}" if modes else "")
                         + " (see harness/evaluation/kid.py).")
    return flags, list(dict.fromkeys(notes))


def spread_notes(spec: TableSpec, metrics: pd.DataFrame) -> list[str]:
    """Why some single-run values in the table's columns show no ±, once per reason."""
    ok = metrics[(metrics.metric_status == "ok") & (metrics.spread_note.fillna("") != "")]
    rows = _table_rows(ok, spec)
    notes = []
    for note, group in rows.groupby("spread_note", sort=True):
        notes.append(f"No ± on {len(group)} value(s) from {group.file.nunique()} result file(s): {note}; "
                     "such values are marked close or significant only through a recorded se.")
    return notes


SE_NOTE = ("Marks for single runs (underlined/italic, *) compare standard errors of the values (`se`, KID: a "
           "delete-one jackknife over images, calibrated against the true sampling spread), not the std after ±: "
           "two single runs are close when a z-test on their difference gives p ≥ 0.05.")
SE_SHOWN_NOTE = ("± here shows each single run's standard error (`se`) instead of the paper-convention std; "
                 "over seeds it is still the std (n=k).")


def se_notes(table: "BuiltTable") -> list[str]:
    """The closeness rule for single runs, when any competing single-run cell has an se."""
    cells = [c for r in table.rows if not r.reference for c in r.reproduced]
    return [SE_NOTE] if any(c.se is not None and c.std_kind != "seeds" for c in cells) else []


def with_se_shown(table: "BuiltTable") -> "BuiltTable":
    """A copy of `table` whose single-run reproduced cells show their se after ± (marks unchanged)."""
    shown = copy.deepcopy(table)
    for row in shown.rows:
        for cell in row.reproduced:
            if cell.present and cell.std_kind != "seeds":
                cell.std, cell.std_kind = cell.se, "se" if cell.se is not None else None
    shown.notes = list(shown.notes) + [SE_SHOWN_NOTE]
    return shown
