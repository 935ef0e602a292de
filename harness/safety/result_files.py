"""Result files as the leaderboard and the report read them: shared files, so each is checked for the
shapes those readers rely on, and a malformed one is skipped with one warning naming it (one bad file
never stops a build nor fills a cell with NaN).
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any, Iterator, Optional

from harness.errors import HarnessError
from harness.results import RESULT_NAME, SCHEMA_VERSION, validate_result
from harness.safety.paths import inside

log = logging.getLogger("harness.results")
_DICTS = ("task", "directions", "metrics", "config", "environment", "data", "run")
_OPTIONAL_DICTS = ("samples", "translations")


def _number_or_none(value: Any) -> bool:
    if value is None:
        return True
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def problem(result: Any) -> Optional[str]:
    """What makes a loaded result unusable for tables and pages, or None."""
    if not isinstance(result, dict):
        return f"the top level is a {type(result).__name__}, not a mapping"
    for key in _DICTS:
        if not isinstance(result.get(key), dict):
            return f"{key!r} is not a mapping"
    for key in _OPTIONAL_DICTS:
        value = result.get(key)
        if value is not None and (not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values())):
            return f"{key!r} is not a mapping of mappings"
    for key in ("method", "setting", "schedule", "status"):
        if not isinstance(result.get(key), str):
            return f"{key!r} is not a string"
    if not isinstance(result["task"].get("name"), str):
        return "task.name is not a string"
    if not isinstance(result.get("seed"), int) or isinstance(result.get("seed"), bool):
        return "'seed' is not a whole number"
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in result["directions"].items()):
        return "'directions' does not map direction keys to names"
    for sub in ("config", "run", "data"):
        for inner in ("overrides", "trainer", "schedule", "method") if sub != "data" else ():
            value = result[sub].get(inner)
            if value is not None and inner != "method" and not isinstance(value, dict):
                return f"{sub}.{inner} is not a mapping"
    for key in ("wall_time_s", "steps"):
        if not _number_or_none(result["run"].get(key)):
            return f"run.{key} is not a finite number"
    directions = result["metrics"].get("directions")
    if directions is None:
        return None
    if not isinstance(directions, dict):
        return "metrics.directions is not a mapping"
    for direction, entries in directions.items():
        if entries is None:
            continue
        if not isinstance(entries, dict):
            return f"metrics.directions.{direction} is not a mapping"
        for metric, entry in entries.items():
            if entry is None:
                continue
            if not isinstance(entry, dict):
                return f"metric {direction}/{metric} is not a mapping"
            for field in ("value", "std", "ceiling", "subset_size", "n_generated", "n_reference"):
                if not _number_or_none(entry.get(field)):
                    return f"metric {direction}/{metric} {field} {entry.get(field)!r} is not a finite number"
    return None


def iter_usable_results(root: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every well-formed result file under `root`, in a stable order; the others are skipped with a warning
    (unreadable, malformed, or a symlink resolving outside `root`)."""
    root = Path(root)
    for path in sorted(root.glob(f"**/{RESULT_NAME}")):
        rel = path.relative_to(root)
        if inside(root, rel, what="result file") is None:
            log.warning("skipped %s: not a regular file inside %s", path, root)
            continue
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:
            log.warning("skipped %s: not a readable result file (%s)", path, type(exc).__name__)
            continue
        if isinstance(result, dict) and result.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
            validate_result(result, str(path))  # another harness version wrote it: an error, not a skip
        try:
            validate_result(result, str(path)) if isinstance(result, dict) else None
        except HarnessError as exc:
            log.warning("skipped %s: %s", path, str(exc).splitlines()[0])
            continue
        why = problem(result)
        if why is not None:
            log.warning("skipped %s: malformed result file (%s); regenerate it or fix it by hand", path, why)
            continue
        yield path, result


def split_test_lines(split_file: Path) -> list[tuple[str, str, str, str, Optional[str]]]:
    """(part, side, image id, path, half) of each well-formed line of a run's split.json; [] if unreadable."""
    try:
        lines = json.loads(split_file.read_text(encoding="utf-8")).get("lines", [])
    except (OSError, ValueError, AttributeError):
        log.warning("skipped %s: not a readable split file", split_file)
        return []
    out = []
    for line in lines if isinstance(lines, list) else []:
        fields = line.split("\t") if isinstance(line, str) else []
        if len(fields) >= 4:
            out.append((fields[0], fields[1], fields[2], fields[3], (fields[4] if len(fields) > 4 else "") or None))
    return out


def unique_slugs(pages: list[Any]) -> None:
    """Give each page (an object with `.slug`) a slug no other page has (a `-2`, `-3` suffix)."""
    seen: set[str] = set()
    for page in pages:
        slug, n = page.slug, 1
        while slug in seen:
            n += 1
            slug = f"{page.slug}-{n}"
        seen.add(slug)
        page.slug = slug
