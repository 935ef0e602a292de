"""Leaderboard table definitions as data: one YAML file per table in the `tables/` folder.

A table names its columns (task, direction, metric, label), its rows (the paper's method name,
the harness method whose results fill it, a printed label) and the reference methods shown
apart at the bottom. Adding a table is adding a YAML file here or in a folder passed with
`harness leaderboard --tables DIR`; no code changes. An ablation table lists the `--set` options
it varies under `vary:` and gets one row per method and value. A title may contain `{fcn_score}`, which
becomes "FCN-score (<segmenter>)" naming the segmenter of the reproduced numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

from harness.config import from_dict, load_yaml
from harness.errors import UsageError

TABLES_DIR = Path(__file__).resolve().parent / "tables"
# KID is a distance (lower is better); FCN scores are accuracies (higher is better).
METRIC_BETTER = {"target_kid_x100": "lower", "fused_kid_x100": "lower", "target_fid": "lower", "fused_fid": "lower",
                 "fcn_per_pixel_acc": "higher",
                 "fcn_per_class_acc": "higher", "fcn_mean_iou": "higher", "paired_psnr": "higher",
                 "paired_ssim": "higher"}
# Results of these methods are baselines of the protocol itself, never competitors. (The segmenter
# ceiling is no result file: tables derive it from the `ceiling` that evaluation records, see annotate.py.)
DEFAULT_REFERENCE_METHODS = ("identity", "flat", "real-vs-real")
REFERENCE_MODULE_PREFIX = "harness.reference_methods."


@dataclass(frozen=True)
class ColumnSpec:
    """One metric on one task and direction. `direction` is A2B/B2A or the task's direction name."""

    task: str
    direction: str
    metric: str
    label: str = ""
    better: Optional[Literal["lower", "higher"]] = None

    @property
    def lower_is_better(self) -> bool:
        return (self.better or METRIC_BETTER.get(self.metric, "lower")) == "lower"

    @property
    def title(self) -> str:
        return self.label or f"{self.task} {self.direction} {self.metric}"


@dataclass(frozen=True)
class RowSpec:
    """A row: `method` is the paper CSV's name; `results_method` the harness method whose results fill it."""

    method: str
    label: str = ""
    results_method: str = ""
    # Ablation rows only (set by the table builder, not in YAML): the `--set` overrides this row shows,
    # as collect.override_key writes them, and their display text.
    overrides: str = ""
    override_text: str = ""

    @property
    def source_method(self) -> str:
        return self.results_method or self.method

    @property
    def title(self) -> str:
        base = self.label or self.method
        return f"{base} [{self.override_text}]" if self.override_text else base


@dataclass(frozen=True)
class TableSpec:
    name: str
    title: str
    columns: tuple[ColumnSpec, ...]
    rows: tuple[RowSpec, ...] = ()
    # `auto_rows`: one row per method found in the results (tables with no paper counterpart).
    auto_rows: bool = False
    paper_table: Optional[int] = None
    setting: Optional[Literal["unsupervised", "supervised"]] = None
    reference_methods: tuple[str, ...] = DEFAULT_REFERENCE_METHODS
    decimals: int = 2
    footnotes: tuple[str, ...] = ()
    # Ablation tables: the `--set` options this table varies. Runs whose overrides touch only these
    # options are kept (all others are left out, as in every table), one row per method and values.
    vary: tuple[str, ...] = ()
    source_file: str = ""

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.task for c in self.columns))


def load_table(path: Path) -> TableSpec:
    """Read one table definition; unknown keys and empty column lists are errors naming the file."""
    data = load_yaml(path)
    data.setdefault("name", path.stem)
    data["source_file"] = str(path)
    spec = from_dict(TableSpec, data, where=str(path))
    if not spec.columns:
        raise UsageError(f"{path}: a table needs at least one column")
    if not spec.rows and not spec.auto_rows:
        raise UsageError(f"{path}: give `rows` or set `auto_rows: true`")
    unknown = sorted({c.metric for c in spec.columns if c.metric not in METRIC_BETTER and c.better is None})
    if unknown:
        raise UsageError(f"{path}: metric {unknown[0]!r} has no known direction; add `better: lower|higher` "
                         f"to its column (known metrics: {', '.join(METRIC_BETTER)})")
    return spec


def load_tables(extra_dirs: tuple[Path, ...] = ()) -> list[TableSpec]:
    """The shipped tables, then those in `extra_dirs`; a later file with the same name replaces an earlier."""
    specs: dict[str, TableSpec] = {}
    for folder in (TABLES_DIR, *map(Path, extra_dirs)):
        if not folder.is_dir():
            raise UsageError(f"table folder {folder} does not exist")
        for path in sorted(folder.glob("*.yaml")):
            spec = load_table(path)
            specs[spec.name] = spec
    return list(specs.values())
