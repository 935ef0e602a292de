"""Malformed and hostile result files, read by `harness leaderboard` and `harness report`: each is skipped with
one warning naming it (or shown escaped), never a traceback, a NaN cell or raw HTML/markdown/LaTeX.
"""
from __future__ import annotations

import math

import pytest

from hostile_kit import Case, Ctx, assert_clean, ctx, demo_template, edit_result, text_of  # noqa: F401


def _set(path: str, value):
    """Set a dotted key of result.json (creating nothing: the parent must exist)."""
    def edit(result: dict) -> None:
        keys = path.split(".")
        target = result
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return edit


def _first_metric(result: dict) -> dict:
    directions = result["metrics"]["directions"]
    entries = directions[sorted(directions)[0]]
    return entries[sorted(entries)[0]]


def _metric(field: str, value):
    def edit(result: dict) -> None:
        entry = _first_metric(result)
        entry["status"] = "ok"
        entry[field] = value
    return edit


def _raw(text: str):
    def write(ctx: Ctx) -> None:
        (ctx.run_dir / "result.json").write_text(text, encoding="utf-8")
    return write


EDITS = {
    "metric-nan": _metric("value", math.nan),
    "metric-inf": _metric("value", math.inf),
    "metric-minus-inf": _metric("value", -math.inf),
    "metric-string": _metric("value", "abc"),
    "metric-list": _metric("value", [1, 2]),
    "metric-dict": _metric("value", {"a": 1}),
    "metric-bool": _metric("value", True),
    "metric-std-nan": _metric("std", math.nan),
    "metric-std-string": _metric("std", "wide"),
    "metric-subset-string": _metric("subset_size", "all"),
    "metric-entry-number": lambda r: r["metrics"]["directions"][sorted(r["metrics"]["directions"])[0]].update(x=5),
    "metric-entries-list": lambda r: r["metrics"]["directions"].update(A2B=[1, 2]),
    "metrics-directions-string": _set("metrics.directions", "A2B"),
    "metrics-list": _set("metrics", []),
    "metrics-null": _set("metrics", None),
    "directions-list": _set("directions", ["A2B"]),
    "directions-values-numbers": _set("directions", {"A2B": 1}),
    "task-string": _set("task", "demo"),
    "task-null": _set("task", None),
    "task-name-number": _set("task.name", 5),
    "method-number": _set("method", 5),
    "method-list": _set("method", ["cyclegan"]),
    "method-null": _set("method", None),
    "seed-string": _set("seed", "0"),
    "seed-float": _set("seed", 1.5),
    "schedule-number": _set("schedule", 3),
    "setting-list": _set("setting", []),
    "config-list": _set("config", []),
    "config-overrides-string": _set("config.overrides", "ngf=3"),
    "run-list": _set("run", []),
    "run-wall-time-string": _set("run.wall_time_s", "long"),
    "run-steps-nan": _set("run.steps", math.nan),
    "data-string": _set("data", "/etc"),
    "samples-list": _set("samples", ["a"]),
    "samples-entry-string": _set("samples.A2B", "x.png"),
    "translations-list": _set("translations", [1]),
    "translations-entry-number": _set("translations.A2B", 4),
    "environment-null": _set("environment", None),
    "missing-keys": lambda r: {"schema_version": 1, "status": "complete"},
    "top-level-list": lambda r: [r],
    "top-level-string": lambda r: "result",
    "top-level-null": lambda r: None,
    "huge-number": _metric("value", 1e308 * 10),
}
RAW = {
    "invalid-json": "{\"schema_version\": 1, ",
    "empty-file": "",
    "binary-garbage": "\x00\x01\x02\xff",
    "deep-nesting": "[" * 100000 + "]" * 100000,
    "not-utf8": None,  # written as bytes below
}


# `harness report` draws figures per run, so it gets the kinds of damage its pages read, not every variant
REPORT_TOO = {"metric-nan", "metric-string", "metric-list", "metric-std-nan", "metric-entry-number",
              "metric-entries-list", "metrics-list", "directions-list", "task-string", "task-name-number",
              "method-list", "seed-string", "config-list", "config-overrides-string", "run-list",
              "run-wall-time-string", "samples-list", "samples-entry-string", "translations-list",
              "translations-entry-number", "top-level-list", "invalid-json", "deep-nesting", "not-utf8"}
NAME_PAIRS = {("leaderboard", "reason"), ("leaderboard", "method"), ("report", "reason"), ("report", "method"),
              ("report", "direction")}


def _counted(result: dict) -> None:
    """The demo run without its `--set` overrides: tables then count it (auto rows: one per method)."""
    result["config"]["overrides"] = {}


def _malformed(edit_name: str, command: str):
    def setup(ctx: Ctx) -> list[str]:
        if edit_name in RAW:
            path = ctx.run_dir / "result.json"
            if RAW[edit_name] is None:
                path.write_bytes(b"{\"a\": \"\xff\xfe\"}")
            else:
                path.write_text(RAW[edit_name], encoding="utf-8")
        else:
            edit_result(ctx, _counted)  # a row of the demo table, so its values reach the cells
            edit_result(ctx, EDITS[edit_name])
        out = ctx.tmp / "out"
        ctx.writable = [out]
        return [command, "--results", str(ctx.results), "--out", str(out)]
    return setup


def _named_in_warning(ctx: Ctx, output: str) -> str | None:
    """A skipped file is named (its path), or the file is used and its values show no NaN."""
    if str(ctx.run_dir / "result.json") in output or "result.json" in output:
        return None
    tables = text_of(ctx.tmp / "out", ".md") + text_of(ctx.tmp / "out", ".html")
    if "nan" in tables.lower().replace("nanometre", "") and "| nan" in tables.lower():
        return "a NaN reached a table"
    return None


MALFORMED = [Case(f"{cmd}-{name}", "malformed results", _malformed(name, cmd), (0,), check=_named_in_warning)
             for name in list(EDITS) + list(RAW) for cmd in ("leaderboard", "report")
             if cmd == "leaderboard" or name in REPORT_TOO]


# ------------------------------------------------------------------------------ names that try to break out
def _name(field: str, value: str, command: str):
    def setup(ctx: Ctx) -> list[str]:
        def edit(result: dict) -> None:
            if field == "reason":
                entry = _first_metric(result)
                entry["status"], entry["reason"] = "unavailable", value
            elif field == "method":
                result["method"] = value
            elif field == "task":
                result["task"]["name"] = value
            elif field == "direction":
                result["directions"][sorted(result["directions"])[0]] = value
        edit_result(ctx, _counted)
        edit_result(ctx, edit)
        out = ctx.tmp / "out"
        ctx.writable = [out]
        return [command, "--results", str(ctx.results), "--out", str(out)]
    return setup


def _no_raw_markup(ctx: Ctx, _: str) -> str | None:
    out = ctx.tmp / "out"
    for path in sorted(out.rglob("*")):
        if not path.is_file() or path.suffix not in (".md", ".html", ".tex"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if "<script>alert" in text or "<img src=x" in text:
            return f"raw HTML from a result file in {path.name}"
        if path.suffix == ".md" and any(line.startswith("# injected") for line in text.splitlines()):
            return f"a newline in a name started a markdown heading in {path.name}"
        squeezed = "".join(text.split())  # LaTeX skips the spaces and line ends between a command and its [
        if path.suffix == ".tex" and any(f"{cmd}[" in squeezed for cmd in ("\\\\", "\\midrule", "\\toprule")):
            return f"a name starting with [ becomes a command's optional argument in {path.name}"
    return None


NAMES = {
    "script": "<script>alert(1)</script>",
    "img-onerror": "<img src=x onerror=alert(1)>",
    "newline-heading": "fine\n# injected heading",
    "pipe-newline": "a | b\n| c |",
    "leading-bracket": "[2pt] method",
    "md-link": "[click](javascript:alert(1))",
    "latex-command": "\\input{/etc/passwd}",
    "carriage-return": "a\r# injected",
}
NAME_CASES = [Case(f"{cmd}-{field}-{name}", "names", _name(field, value, cmd), (0,), check=_no_raw_markup)
              for name, value in NAMES.items() for field in ("reason", "method", "task", "direction")
              for cmd in ("leaderboard", "report") if (cmd, field) in NAME_PAIRS]


@pytest.mark.parametrize("case", MALFORMED + NAME_CASES, ids=str)
def test_hostile_result_files(case: Case, ctx: Ctx) -> None:
    assert_clean(case, ctx)
