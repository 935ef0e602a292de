"""Display names of methods as the paper prints them ("CycleGAN", "Ours (PHA+RHP)"), from the row labels
of the table definitions: one place, so the terminal, the report and the tables say the same thing.
A method no table labels keeps its registry id; two methods never share a display name."""
from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def display_names() -> dict[str, str]:
    from harness.leaderboard.specs import load_tables
    direct: dict[str, str] = {}
    via: dict[str, str] = {}
    rows = [row for spec in load_tables() for row in spec.rows if row.label]
    # The main tables' "Ours (…)" label before an ablation's short one (PHA+RHP) for the same method.
    for row in sorted(rows, key=lambda r: not r.label.startswith("Ours")):
        (via if row.results_method else direct).setdefault(row.source_method, row.label)
    names: dict[str, str] = {}
    taken: set[str] = set()
    for method, label in list(direct.items()) + list(via.items()):
        if method not in names and label not in taken:
            names[method] = label
            taken.add(label)
    return names


def display_name(method: str, ids: bool = False) -> str:
    """The paper's name for a registry id (the id itself with `ids`, or when no table names it)."""
    return method if ids else display_names().get(method, method)
