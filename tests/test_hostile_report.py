"""Hostile inputs to `harness report` and `harness leaderboard`: paths in shared run files that try to leave
their run folder, `--out` folders that are not the harness's to replace, an interrupted swap, a full disk.

Every case: the expected exit code, one error line and no traceback, nothing read outside the run and data
folders, nothing written outside `--out`, nothing deleted that the harness did not write, no hang.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path
from unittest import mock

import pytest

from hostile_kit import (Case, Ctx, assert_clean, ctx, demo_template, edit_result, files_under,  # noqa: F401
                         quiet_main)

OK = (0,)


def report(ctx: Ctx, out: str = "site") -> list[str]:
    ctx.writable = [ctx.tmp / out]
    return ["report", "--results", str(ctx.results), "--out", str(ctx.tmp / out)]


def leaderboard(ctx: Ctx, out: str = "boards") -> list[str]:
    ctx.writable = [ctx.tmp / out]
    return ["leaderboard", "--results", str(ctx.results), "--out", str(ctx.tmp / out)]


def _samples(value):
    def setup(ctx: Ctx) -> list[str]:
        edit_result(ctx, lambda r: r["samples"]["A2B"].__setitem__("file", value(ctx) if callable(value) else value))
        return report(ctx)
    return setup


def _translations(value):
    def setup(ctx: Ctx) -> list[str]:
        edit_result(ctx, lambda r: r["translations"]["A2B"].__setitem__("dir", value(ctx) if callable(value) else value))
        return report(ctx)
    return setup


def _symlink(rel: str, target):
    def setup(ctx: Ctx) -> list[str]:
        path = ctx.run_dir / rel
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target(ctx))
        return report(ctx)
    return setup


def _fifo(rel: str):
    def setup(ctx: Ctx) -> list[str]:
        path = ctx.run_dir / rel
        if path.exists():
            path.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(path)
        return report(ctx)
    return setup


def _split(lines):
    def setup(ctx: Ctx) -> list[str]:
        demo_root = Path(json.loads((ctx.run_dir / "result.json").read_text())["data"]["root"])
        (ctx.run_dir / "split.json").write_text(json.dumps({"lines": lines(ctx, demo_root)}))
        return report(ctx)
    return setup


def _escape_up(ctx: Ctx, target: Path, start: Path) -> str:
    return os.path.relpath(target, start)


def _snapshot_dir_link(ctx: Ctx) -> list[str]:
    shutil.rmtree(ctx.run_dir / "snapshots", ignore_errors=True)
    (ctx.run_dir / "snapshots").symlink_to(ctx.outside)
    return report(ctx)


def _second_results_dir(ctx: Ctx) -> list[str]:
    """A result.json symlinked in from outside the results folder."""
    (ctx.outside / "stolen").mkdir()
    shutil.copy(ctx.run_dir / "result.json", ctx.outside / "stolen" / "result.json")
    edit_result(ctx, lambda r: r["samples"]["A2B"].__setitem__("file", "../secret.png"),
                ctx.outside / "stolen" / "result.json")
    (ctx.results / "demo" / "linked").symlink_to(ctx.outside / "stolen")
    return report(ctx)


def _two_tasks_one_slug(ctx: Ctx) -> list[str]:
    twin = ctx.results / "demo" / "cyclegan" / "twin"
    shutil.copytree(ctx.run_dir, twin, symlinks=True)
    edit_result(ctx, lambda r: r["task"].__setitem__("name", "de/mo"), twin / "result.json")
    edit_result(ctx, lambda r: r["task"].__setitem__("name", "de_mo"))
    return report(ctx)


def _pages_distinct(ctx: Ctx, _: str) -> str | None:
    pages = files_under(ctx.tmp / "site" / "tasks")
    return None if len(pages) == 2 else f"two task names share one page ({len(pages)} task pages)"


PATH_CASES = [
    Case("samples-etc-hostname", "report paths", _samples("/etc/hostname"), OK),
    Case("samples-absolute-outside", "report paths", _samples(lambda c: str(c.outside / "secret.png")), OK),
    Case("samples-dotdot-outside", "report paths",
         _samples(lambda c: _escape_up(c, c.outside / "secret.png", c.run_dir)), OK),
    Case("samples-dotdot-target-escape", "report paths", _samples("../../../../../../pwned.png"), OK),
    Case("samples-deep-dotdot", "report paths", _samples("x/../../../../../../../../etc/passwd"), OK),
    Case("samples-nul-byte", "report paths", _samples("samples\x00.png"), OK),
    Case("samples-number", "report paths", _samples(7), OK),
    Case("samples-list", "report paths", _samples(["a", "b"]), OK),
    Case("samples-empty", "report paths", _samples(""), OK),
    Case("samples-folder", "report paths", _samples("translations"), OK),
    Case("samples-symlink-outside", "report paths", _symlink("samples_A2B.png", lambda c: c.outside / "secret.png"), OK),
    Case("samples-symlink-etc", "report paths", _symlink("samples_A2B.png", lambda c: Path("/etc/hostname")), OK),
    Case("samples-fifo", "report paths", _fifo("samples_A2B.png"), OK, seconds=15),
    Case("snapshots-dir-symlink", "report paths", _snapshot_dir_link, OK),
    Case("snapshot-file-symlink", "report paths",
         _symlink("snapshots/step0000002_A2B.png", lambda c: c.outside / "secret.png"), OK),
    Case("snapshot-fifo", "report paths", _fifo("snapshots/step0000003_A2B.png"), OK, seconds=15),
    Case("translations-absolute", "report paths", _translations(lambda c: str(c.outside)), OK),
    Case("translations-dotdot", "report paths",
         _translations(lambda c: _escape_up(c, c.outside, c.run_dir)), OK),
    Case("translations-number", "report paths", _translations(3), OK),
    Case("translations-dir-symlink", "report paths", _symlink("translations/A2B", lambda c: c.outside), OK),
    Case("translation-file-symlink", "report paths",
         _symlink("translations/A2B/000.png", lambda c: c.outside / "secret.png"), OK),
    Case("translation-fifo", "report paths", _fifo("translations/A2B/000.png"), OK, seconds=15),
    Case("losses-symlink-outside", "report paths", _symlink("losses.jsonl", lambda c: c.outside / "secret.txt"), OK),
    Case("losses-fifo", "report paths", _fifo("losses.jsonl"), OK, seconds=15),
    Case("split-fifo", "report paths", _fifo("split.json"), OK, seconds=15),
    Case("split-symlink-outside", "report paths", _symlink("split.json", lambda c: c.outside / "secret.txt"), OK),
    Case("split-dotdot-lines", "report paths", _split(lambda c, root: [
        f"test\t{side}\t000\t{os.path.relpath(c.outside / 'secret.png', root)}\tleft" for side in "AB"]), OK),
    Case("split-absolute-lines", "report paths", _split(lambda c, root: [
        f"test\t{side}\t000\t{c.outside / 'secret.png'}\tleft" for side in "AB"]), OK),
    Case("split-etc-lines", "report paths", _split(lambda c, root: [
        f"test\t{side}\t000\t/etc/passwd\t" for side in "AB"]), OK),
    Case("split-short-lines", "report paths", _split(lambda c, root: ["test\tA", "x", 5, None]), OK),
    Case("split-not-a-list", "report paths", _split(lambda c, root: "test\tA\t000\tx.png"), OK),
    Case("result-json-symlinked-dir", "report paths", _second_results_dir, OK),
    Case("result-json-fifo", "report paths", lambda c: (os.mkfifo(c.results / "demo" / "result.json"), report(c))[1],
         OK, seconds=15),
    Case("two-tasks-one-slug", "report paths", _two_tasks_one_slug, OK, check=_pages_distinct),
]


# ------------------------------------------------------------------------------------------- --out folders
def _user_folder(command):
    def setup(ctx: Ctx) -> list[str]:
        folder = ctx.tmp / "mydocs"
        folder.mkdir()
        (folder / "thesis.tex").write_text("years of work\n")
        argv = command(ctx, "mydocs")
        ctx.writable = []  # nothing in it may go
        return argv
    return setup


def _out_is(path_of, command):
    def setup(ctx: Ctx) -> list[str]:
        argv = command(ctx)
        argv[-1] = str(path_of(ctx))
        ctx.writable = []
        return argv
    return setup


def _out_file(command):
    def setup(ctx: Ctx) -> list[str]:
        (ctx.tmp / "notes.txt").write_text("keep me\n")
        argv = command(ctx)
        argv[-1] = str(ctx.tmp / "notes.txt")
        ctx.writable = []
        return argv
    return setup


def _out_symlink(command):
    def setup(ctx: Ctx) -> list[str]:
        (ctx.tmp / "link").symlink_to(ctx.outside)
        argv = command(ctx)
        argv[-1] = str(ctx.tmp / "link")
        ctx.writable = []
        return argv
    return setup


def _previous_build(command, out):
    """A folder this command wrote before: replaced (exit 0)."""
    def setup(ctx: Ctx) -> list[str]:
        argv = command(ctx, out)
        assert quiet_main(argv) == 0
        return argv
    return setup


def _empty_dir(command, out):
    def setup(ctx: Ctx) -> list[str]:
        (ctx.tmp / out).mkdir()
        return command(ctx, out)
    return setup


def _results_are(command):
    """--results and --out the same folder, given relative to the current folder."""
    def setup(ctx: Ctx) -> list[str]:
        argv = command(ctx)
        argv[argv.index("--out") + 1] = "results"
        ctx.writable = []
        return argv
    return setup


OUT_CASES = []
for name, cmd in (("report", report), ("leaderboard", leaderboard)):
    OUT_CASES += [
        Case(f"{name}-out-is-results", "out folder", _out_is(lambda c: c.results, cmd)),
        Case(f"{name}-out-is-results-relative", "out folder", _results_are(cmd)),
        Case(f"{name}-out-holds-results", "out folder", _out_is(lambda c: c.tmp, cmd)),
        Case(f"{name}-out-inside-results", "out folder", _out_is(lambda c: c.results / "demo", cmd)),
        Case(f"{name}-out-dot", "out folder", _out_is(lambda c: ".", cmd)),
        Case(f"{name}-out-user-folder", "out folder", _user_folder(cmd)),
        Case(f"{name}-out-outside-folder", "out folder", _out_is(lambda c: c.outside, cmd)),
        Case(f"{name}-out-is-a-file", "out folder", _out_file(cmd)),
        Case(f"{name}-out-symlink", "out folder", _out_symlink(cmd)),
        Case(f"{name}-out-previous-build", "out folder", _previous_build(cmd, "again"), OK),
        Case(f"{name}-out-empty-folder", "out folder", _empty_dir(cmd, "fresh"), OK),
    ]


# ------------------------------------------------------------------------------- swap and full disk
def _interrupted_swap(ctx: Ctx) -> list[str]:
    """Killed between the two renames: the previous set is only `.boards.old`; a rerun must keep its files."""
    argv = leaderboard(ctx)
    assert quiet_main(argv) == 0
    (ctx.tmp / "boards" / "kept_by_an_older_build.md").write_text("a refused table's last good version\n")
    os.rename(ctx.tmp / "boards", ctx.tmp / ".boards.old")
    return argv


def _swap_kept(ctx: Ctx, _: str) -> str | None:
    if not (ctx.tmp / "boards" / "kept_by_an_older_build.md").is_file():
        return "the previous set's files were lost after an interrupted swap"
    return None


def _disk_full(command, when: str):
    """ENOSPC from the file system: while writing the new set, or while copying the previous one."""
    def setup(ctx: Ctx) -> list[str]:
        import tempfile
        argv = command(ctx)
        if when == "copy":
            assert quiet_main(argv) == 0  # a first build, which the next one starts from
            ctx.patches.append(mock.patch("shutil.copyfile", side_effect=OSError(errno.ENOSPC, "No space left")))
            return argv
        real = tempfile.mkstemp

        def full(*args, **kwargs):
            if ".partial" in str(kwargs.get("dir", "")):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(*args, **kwargs)
        ctx.patches.append(mock.patch("tempfile.mkstemp", full))
        return argv
    return setup


def _no_partial(ctx: Ctx, _: str) -> str | None:
    left = [p.name for p in ctx.tmp.iterdir() if p.name.endswith(".partial")]
    return f"left {left[0]} behind" if left else None


SWAP_CASES = [
    Case("leaderboard-killed-between-renames", "swap", _interrupted_swap, OK, check=_swap_kept),
    Case("leaderboard-disk-full", "swap", _disk_full(leaderboard, "write"), (1,), check=_no_partial),
    Case("leaderboard-disk-full-copying", "swap", _disk_full(leaderboard, "copy"), (1,), check=_no_partial),
    Case("report-disk-full", "swap", _disk_full(report, "write"), (1,), check=_no_partial),
]


@pytest.mark.parametrize("case", PATH_CASES + OUT_CASES + SWAP_CASES, ids=str)
def test_hostile_report_and_leaderboard_inputs(case: Case, ctx: Ctx) -> None:
    assert_clean(case, ctx)


def test_report_and_leaderboard_files_are_readable_by_others(ctx: Ctx) -> None:
    """Under umask 022 what the harness writes is 0644, so a web server or a colleague can read it."""
    old = os.umask(0o022)
    try:
        assert quiet_main(report(ctx)) == 0
        assert quiet_main(leaderboard(ctx)) == 0
    finally:
        os.umask(old)
    written = files_under(ctx.tmp / "site") + files_under(ctx.tmp / "boards")
    assert written and all(p.stat().st_mode & 0o044 == 0o044 for p in written), \
        [oct(p.stat().st_mode) for p in written if p.stat().st_mode & 0o044 != 0o044][:3]
