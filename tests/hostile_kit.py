"""The machinery of the hostile-input tables (tests/test_hostile_*.py): one tiny real demo run made once per
session and copied per case, the CLI run in-process under a time limit, and the verdict of each case.

A case's verdict is one of:
  clean      the expected exit code, one `harness: error:` line (or none when it succeeds), no traceback
  traceback  an exception escaped the CLI
  wrong      a silent wrong or unsafe result: a wrong exit code (e.g. 0 for a bad checkpoint), a file written
             outside the folder the command may write, a secret read from outside copied in, or the case's
             own check failed
  lost       a file the harness did not write was deleted or changed
  hang       the case ran past its time limit

Set HOSTILE_TALLY=FILE to append one JSON line per case (id, category, verdict, detail) for the figures.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import signal
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

SECRET = "TOP-SECRET-5d41402abc4b2a76"
CASE_SECONDS = 25
TINY = {"ngf": 4, "ndf": 4, "n_blocks": 1}


_OPENED: Optional[list[str]] = None  # paths opened while a case runs (an audit hook records them)


def _audit(event: str, args: tuple) -> None:
    if _OPENED is not None and event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
        if not flags & getattr(os, "O_NOFOLLOW", 0):  # an open that refuses links reads nothing through one
            _OPENED.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)
FORBIDDEN_READS = ("/etc/hostname", "/etc/passwd", "/etc/shadow")


class Hang(BaseException):
    """Raised by the alarm: BaseException so that no `except Exception` in the code under test swallows it."""


@dataclass
class Ctx:
    """One case's folders: `tmp` holds everything; `outside` is a user's folder nothing may touch."""

    tmp: Path
    results: Path
    run_dir: Path
    outside: Path
    data_root: Path
    writable: list[Path] = field(default_factory=list)  # folders the command may write into (and replace)
    env: dict[str, str] = field(default_factory=dict)
    patches: list[Any] = field(default_factory=list)  # context managers entered around the command


@dataclass
class Case:
    id: str
    category: str
    setup: Callable[[Ctx], list[str]]  # prepares the hostile input, returns the CLI arguments
    expect: tuple[int, ...] = (1, 2)  # acceptable exit codes
    check: Optional[Callable[[Ctx, str], Optional[str]]] = None  # a silent-wrong detail, or None
    seconds: int = CASE_SECONDS

    def __str__(self) -> str:
        return self.id


# ---------------------------------------------------------------------------------------------- the demo run
def make_demo_run(base: Path) -> Path:
    """One real (tiny) demo run with everything a run folder holds; returns its results folder."""
    from harness.pipeline import RunSpec, execute

    results = base / "results"
    execute(RunSpec("demo", "cyclegan", "smoke", seed=0, device="cpu", out=str(results), overrides=dict(TINY)))
    return results


def new_ctx(tmp: Path, template: Path) -> Ctx:
    results = tmp / "results"
    shutil.copytree(template, results, symlinks=True)
    run_dir = next(results.glob("*/*/*/result.json")).parent
    outside = tmp / "outside"
    (outside / "docs").mkdir(parents=True)
    (outside / "secret.txt").write_text(SECRET + "\n", encoding="utf-8")
    (outside / "docs" / "notes.md").write_text("my notes\n", encoding="utf-8")
    from PIL import Image
    Image.new("RGB", (8, 8), (255, 0, 0)).save(outside / "step0000001_A2B.png")
    (outside / "secret.png").write_bytes((outside / "step0000001_A2B.png").read_bytes() + SECRET.encode())
    data_root = tmp / "data"
    return Ctx(tmp, results, run_dir, outside, data_root)


def demo_data_copy(dest: Path) -> Path:
    from harness.data.demo import ensure_demo_data

    shutil.copytree(ensure_demo_data(), dest, symlinks=True)
    return dest


# ---------------------------------------------------------------------------------------------- running
def _snapshot(root: Path) -> dict[str, str]:
    """Relative path -> digest (or link target / kind) of everything under `root`, without following links."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                out[rel] = "link:" + os.readlink(path)
            elif path.is_file():
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                out[rel] = "special"
    return out


def _under(rel: str, tmp: Path, folders: list[Path]) -> bool:
    path = tmp / rel
    for folder in folders:
        for allowed in (folder, folder.with_name(f".{folder.name}.partial"), folder.with_name(f".{folder.name}.old")):
            if path == allowed or allowed in path.parents:
                return True
    return False


@contextlib.contextmanager
def _time_limit(seconds: int) -> Iterator[None]:
    def alarm(*_: Any) -> None:
        raise Hang()

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_case(case: Case, ctx: Ctx) -> tuple[str, str]:
    """Set the case up, run the CLI in-process, and return (verdict, detail)."""
    from harness.cli import main

    argv = case.setup(ctx)
    before = _snapshot(ctx.tmp)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logging.getLogger().addHandler(handler)
    cwd = os.getcwd()
    code: Optional[int] = None
    verdict, detail = "clean", ""
    global _OPENED
    _OPENED = opened = []
    try:
        os.chdir(ctx.tmp)
        with contextlib.ExitStack() as stack:
            stack.enter_context(_environment(ctx.env))
            for patch in ctx.patches:
                stack.enter_context(patch)
            stack.enter_context(contextlib.redirect_stderr(stream))
            stack.enter_context(contextlib.redirect_stdout(stream))
            stack.enter_context(_time_limit(case.seconds))
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse
                code = exc.code if isinstance(exc.code, int) else 1
    except Hang:
        verdict, detail = "hang", f"no answer within {case.seconds} s"
    except BaseException as exc:  # noqa: BLE001 - anything escaping the CLI is the finding
        verdict = "traceback"
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()[-1][:300]
    finally:
        _OPENED = None
        os.chdir(cwd)
        logging.getLogger().removeHandler(handler)
    text = stream.getvalue()
    if verdict == "clean" and "Traceback (most recent call last)" in text:
        verdict, detail = "traceback", "a traceback was printed"
    after = _snapshot(ctx.tmp) if ctx.tmp.exists() else {}
    if verdict in ("clean",):
        lost = [rel for rel, digest in before.items()
                if not _under(rel, ctx.tmp, ctx.writable) and after.get(rel) != digest]
        if lost:
            verdict, detail = "lost", f"deleted or changed: {', '.join(sorted(lost)[:3])}"
    if verdict == "clean":
        outside_writes = [rel for rel in after if rel not in before and not _under(rel, ctx.tmp, ctx.writable)]
        if outside_writes:
            verdict, detail = "wrong", f"wrote outside its folder: {', '.join(sorted(outside_writes)[:3])}"
    if verdict == "clean":
        leaked = [rel for rel, digest in after.items() if _under(rel, ctx.tmp, ctx.writable) and before.get(rel) !=
                  digest and (ctx.tmp / rel).is_file() and not (ctx.tmp / rel).is_symlink()
                  and SECRET.encode() in (ctx.tmp / rel).read_bytes()]
        if leaked:
            verdict, detail = "wrong", f"copied a file from outside into {leaked[0]}"
    if verdict == "clean":
        outside = str(ctx.outside.resolve())
        read = [p for p in opened if p in FORBIDDEN_READS or
                os.path.realpath(os.path.join(str(ctx.tmp), p)).startswith(outside + os.sep)]
        if read:
            verdict, detail = "wrong", f"read outside its folders: {read[0]}"
    if verdict == "clean" and code not in case.expect:
        verdict, detail = "wrong", f"exit code {code}, expected {case.expect}: {_last_error(text)}"
    if verdict == "clean" and code != 0:
        errors = [line for line in text.splitlines() if line.startswith("harness: error:")]
        if not errors and code != 2:
            verdict, detail = "wrong", f"exit {code} without a `harness: error:` line"
        elif code != 2 and len(text.split("harness: error:", 1)[1].strip().splitlines()) > 3:
            verdict, detail = "wrong", "the error is not one short message"
    if verdict == "clean" and case.check is not None:
        problem = case.check(ctx, text)
        if problem:
            verdict, detail = "wrong", problem
    _tally(case, verdict, detail, code)
    return verdict, detail + ("" if verdict == "clean" else f"\n--- output ---\n{text[-2000:]}")


def _last_error(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else "(no output)"


def _tally(case: Case, verdict: str, detail: str, code: Optional[int]) -> None:
    target = os.environ.get("HOSTILE_TALLY")
    if target:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"id": case.id, "category": case.category, "verdict": verdict, "code": code,
                                 "detail": detail[:300]}) + "\n")


def quiet_main(argv: list[str]) -> int:
    """The CLI in-process with its output discarded (to prepare a case from a real earlier build)."""
    from harness.cli import main
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main(argv)


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []


def text_of(folder: Path, suffix: str) -> str:
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in files_under(folder) if p.suffix == suffix)


def edit_result(ctx: Ctx, edit: Callable[[dict], Any], path: Optional[Path] = None) -> None:
    path = path or ctx.run_dir / "result.json"
    result = json.loads(path.read_text(encoding="utf-8"))
    replaced = edit(result)
    path.write_text(json.dumps(result if replaced is None else replaced, allow_nan=True), encoding="utf-8")


# ---------------------------------------------------------------------------------------------- fixtures
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """The tiny demo run every case copies (made once per test process)."""
    return make_demo_run(tmp_path_factory.mktemp("hostile-demo"))


@pytest.fixture
def ctx(tmp_path, demo_template) -> Ctx:
    return new_ctx(tmp_path, demo_template)


def assert_clean(case: Case, ctx: Ctx) -> None:
    verdict, detail = run_case(case, ctx)
    assert verdict == "clean", f"{case.id}: {verdict}: {detail}"
