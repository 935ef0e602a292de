"""Self-describing result files: `results/<task>/<method>/<run_id>/result.json`.

A result names everything its numbers depend on: task and protocol version, method and its
resolved config, schedule, seed, git commit and dirty flag, package versions, device, data
manifest and split digests, translations and their digests, and the metrics (with their own
weights hashes, filled by the evaluation stage). Leaderboards are built from these files alone.
"""
from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

from harness.errors import HarnessError
from harness.io import write_json

SCHEMA_VERSION = 1
RESULT_NAME = "result.json"
NOT_EVALUATED = {"status": "not_evaluated", "reason": "no evaluation has been run on this result"}
PACKAGES = ("torch", "torchvision", "torch-fidelity", "numpy", "pillow", "scikit-learn", "pandas", "datasets",
            "harness")


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_state(path: Path | None = None) -> dict[str, Any]:
    """Commit of the code that ran, and whether the checkout had changes: edited, staged or untracked
    files anywhere in it (an untracked method file changes results as much as an edited one), except
    the results/ and leaderboards/ outputs. `dirty_files` names the first few."""
    cwd = path or Path(__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                              timeout=10).stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        status = git("status", "--porcelain", "--untracked-files=all", "--", ":(top)",
                     ":(top,exclude)results", ":(top,exclude)leaderboards")
        changed = [line[3:] for line in status.splitlines() if line.strip()]
        return {"commit": commit, "dirty": bool(changed), "dirty_files": changed[:20],
                "n_dirty_files": len(changed)}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None, "note": "not a git checkout"}


def method_packages() -> dict[str, dict[str, Any]]:
    """Version and origin of every package that registered methods (entry-point plugins included),
    and the plugins skipped because they failed to import."""
    from harness.registry import METHODS
    checkout = Path(__file__).resolve().parents[1]
    out: dict[str, dict[str, Any]] = {}
    for entry in METHODS.entries():
        top = getattr(entry.obj, "__module__", "?").split(".")[0]
        if top in out:
            continue
        module = sys.modules.get(top)
        where = Path(getattr(module, "__file__", None) or ".").resolve().parent
        if top in METHODS.plugin_sources:
            dist, version = METHODS.plugin_sources[top]
            out[top] = {"origin": "entry point", "distribution": dist, "version": version, "path": str(where)}
        elif checkout in where.parents or where == checkout:
            out[top] = {"origin": "harness checkout", "version": _version("harness"), "path": str(where)}
        else:
            out[top] = {"origin": "installed package", "version": _version(top), "path": str(where)}
    if METHODS.skipped:
        out["skipped_plugins"] = dict(METHODS.skipped)
    return out


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, Any]:
    return {"packages": package_versions(), "git": git_state(), "method_packages": method_packages(),
            "platform": platform.platform(), "argv": sys.argv}


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def write_result(run_dir: Path, result: dict[str, Any]) -> Path:
    """Validate and atomically write `run_dir/result.json`."""
    validate_result(result, where=str(run_dir / RESULT_NAME))
    path = run_dir / RESULT_NAME
    write_json(path, result)
    return path


REQUIRED = ("schema_version", "status", "task", "method", "setting", "schedule", "seed", "directions", "metrics",
            "config", "environment", "data", "run")


def validate_result(result: dict[str, Any], where: str = "result") -> None:
    missing = [k for k in REQUIRED if k not in result]
    if missing:
        raise HarnessError(f"{where}: missing keys {', '.join(missing)}")
    if result["schema_version"] != SCHEMA_VERSION:
        raise HarnessError(f"{where}: schema version {result['schema_version']} is not {SCHEMA_VERSION}; "
                           "regenerate it with this harness version")


def load_result(path: Path) -> dict[str, Any]:
    try:
        result = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise HarnessError(f"cannot read result file {path}: {exc}") from exc
    validate_result(result, str(path))
    return result


def iter_results(root: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every result file under `root`, in a stable order."""
    for path in sorted(Path(root).glob(f"**/{RESULT_NAME}")):
        yield path, load_result(path)
