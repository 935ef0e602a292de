"""The paper's reported numbers (Tables 1–5), shipped as `paper_tables.csv` beside this file.

Columns: table, task, direction, metric, method, value, std. `std` is empty where the paper
prints none (Tables 4–5). Values keep the printed digits; nothing here is typed into a table.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Optional

import pandas as pd

PAPER_CSV = Path(__file__).resolve().parent / "paper_tables.csv"


@lru_cache(maxsize=None)
def paper_frame(path: Path = PAPER_CSV) -> pd.DataFrame:
    """The reported numbers as a tidy frame (one row per table cell)."""
    frame = pd.read_csv(path, dtype={"table": int, "task": str, "direction": str, "metric": str, "method": str,
                                     "value": float, "std": float})
    expected = ["table", "task", "direction", "metric", "method", "value", "std"]
    if list(frame.columns) != expected:
        raise ValueError(f"{path}: expected columns {expected}, found {list(frame.columns)}")
    return frame


def reported(table: Optional[int], task: str, direction: str, metric: str,
             method: str) -> Optional[tuple[float, Optional[float]]]:
    """(value, std or None) the paper prints for one cell, or None when it prints nothing."""
    if table is None:
        return None
    return _cells().get((table, task, direction, metric, method))


@lru_cache(maxsize=None)
def _cells() -> dict[tuple, tuple[float, Optional[float]]]:
    return {(r.table, r.task, r.direction, r.metric, r.method):
            (float(r.value), None if pd.isna(r.std) else float(r.std)) for r in paper_frame().itertuples(index=False)}
