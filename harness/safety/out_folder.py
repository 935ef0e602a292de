"""Which folders `harness report` / `harness leaderboard` may replace as a whole.

Both commands build a new folder beside `--out` and swap it in, removing the old one. That is only
safe for a folder the harness wrote itself: each build leaves a marker file in it, and an existing
`--out` without the marker (a user folder, the results, `.`) is refused, as is one that holds or is
the results folder the build reads. (A new folder inside the results, e.g. `results/leaderboards-demo`, is
fine: it holds no result files.)
"""
from __future__ import annotations

from pathlib import Path

from harness.errors import UsageError

MARKER_NAME = ".harness-output"


def marker_text(kind: str) -> str:
    return f"written by `harness {kind}`; this folder is replaced as a whole by the next build\n"


def _older_build(out: Path, kind: str) -> bool:
    """A build of a harness from before the marker (the committed leaderboards/, an old report)."""
    if kind == "report":
        return (out / "index.html").is_file() and (out / "style.css").is_file() and (out / "runs").is_dir()
    readme = out / "README.md"
    try:
        return readme.is_file() and "harness leaderboard" in readme.read_text(encoding="utf-8", errors="replace")[:4000]
    except OSError:
        return False


def check_out_folder(out: Path, results: Path, kind: str) -> None:
    """Raise a one-line UsageError unless `out` may be replaced by `harness <kind>`."""
    out, results = Path(out), Path(results)
    if str(out) in ("", ".") or out.resolve() == Path.cwd().resolve() or out.resolve() == Path(out.anchor):
        raise UsageError(f"--out {out}: the current or root folder cannot be replaced; name a folder of its own, "
                         f"e.g. --out {kind}s")
    if results.exists() and not results.is_dir():
        raise UsageError(f"--results {results} is a file, not a folder of result files")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder; name a folder (it is created)")
    if out.is_symlink():
        raise UsageError(f"--out {out} is a symlink; name the folder itself")
    out_r, results_r = out.resolve(), results.resolve()
    if out_r == results_r or out_r in results_r.parents:
        raise UsageError(f"--out {out} holds the results folder {results}; it would be replaced: "
                         f"name another folder, e.g. --out {kind}")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER_NAME).is_file() and not _older_build(out, kind):
            raise UsageError(f"--out {out} exists and was not written by `harness {kind}` (no {MARKER_NAME} "
                             "file); it would be replaced as a whole: name a new folder, or empty it yourself")
