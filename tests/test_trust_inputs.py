"""Bad inputs give one-line errors, and records tell the truth (no training in this file)."""
from __future__ import annotations

import errno
import logging
import subprocess
import sys

import pytest

from harness import io
from harness.cli import main
from harness.config import parse_overrides
from harness.data.manifest import build_manifest
from harness.errors import HarnessError
from harness.pipeline import RunSpec
from harness.registry import Registry
from harness.results import git_state


def test_disk_full_and_read_only_writes_are_one_line_errors(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(io.os, "fsync", full)
    with pytest.raises(io.WriteError) as caught:
        io.write_json(tmp_path / "result.json", {"a": 1})
    assert str(tmp_path / "result.json") in str(caught.value) and "disk is full" in str(caught.value)
    assert not list(tmp_path.iterdir()), "the temporary file was left behind"
    monkeypatch.undo()

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "x"))
    monkeypatch.setattr(io.tempfile, "mkstemp", read_only)
    with pytest.raises(io.WriteError, match="read-only: write elsewhere"):
        io.write_text(tmp_path / "x", "y")


def test_truncated_images_are_refused_by_the_manifest_pass(tmp_path):
    from PIL import Image
    Image.new("RGB", (8, 8), "red").save(tmp_path / "ok.jpg")
    Image.new("RGB", (8, 8), "red").save(tmp_path / "ok.png")
    assert build_manifest(tmp_path).n_files == 2
    data = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) - 40])
    with pytest.raises(HarnessError, match=r"cut\.jpg is truncated"):
        build_manifest(tmp_path)


def test_set_reads_exponents_as_numbers_and_seed_must_not_be_negative(capsys):
    assert parse_overrides(["lr=1e-3", "b=2", "c=x", "d=.inf"]) == {"lr": 1e-3, "b": 2, "c": "x", "d": float("inf")}
    with pytest.raises(SystemExit) as caught:
        main(["run", "--task", "demo", "--methods", "cyclegan", "--seed", "-1"])
    assert caught.value.code == 2 and "--seed" in capsys.readouterr().err


def test_dirty_flag_sees_edits_and_untracked_files_anywhere(tmp_path):
    def git(*args):
        subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=tmp_path, check=True,
                       capture_output=True)
    git("init", "-q")
    (tmp_path / "harness").mkdir()
    (tmp_path / "baselines").mkdir()
    (tmp_path / "harness" / "a.py").write_text("x = 1\n")
    (tmp_path / "baselines" / "cyclegan.py").write_text("y = 1\n")
    git("add", "-A")
    git("commit", "-qm", "init")
    assert git_state(tmp_path / "harness")["dirty"] is False
    (tmp_path / "baselines" / "new_method.py").write_text("z = 1\n")
    state = git_state(tmp_path / "harness")
    assert state["dirty"] is True and state["dirty_files"] == ["baselines/new_method.py"]
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "r.json").write_text("{}")  # outputs do not count
    assert git_state(tmp_path / "harness")["n_dirty_files"] == 1


def test_a_broken_plugin_module_is_one_warning_and_skipped(tmp_path, monkeypatch, caplog):
    package = tmp_path / "plugpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "good.py").write_text("from tests_plug_registry import REG\nREG.register('good', object())\n")
    (package / "broken.py").write_text("import a_module_that_does_not_exist\n")
    registry = Registry("thing", discover=("plugpkg",))
    holder = type(sys)("tests_plug_registry")
    holder.REG = registry
    monkeypatch.setitem(sys.modules, "tests_plug_registry", holder)
    monkeypatch.syspath_prepend(str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="harness.registry"):
        assert registry.names() == ["good"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "plugpkg.broken" in warnings[0] and "a_module_that_does_not_exist" in warnings[0]
    with pytest.raises(HarnessError, match="failed to import"):
        registry.get("brokn")


def test_world_size_and_effective_batch_are_in_the_run_id():
    one = RunSpec("demo", "cyclegan", "smoke", seed=0)
    two = RunSpec("demo", "cyclegan", "smoke", seed=0, world_size=2)
    four = RunSpec("demo", "cyclegan", "smoke", seed=0, world_size=2, train={"batch_size": 2})
    assert one.run_id == "smoke-seed0"
    assert two.run_id.startswith("smoke-seed0-ws2-eb2-") and four.run_id.startswith("smoke-seed0-ws2-eb4-")
    assert len({one.run_id, two.run_id, four.run_id}) == 3


def test_method_packages_are_recorded_with_version_and_origin():
    from harness.results import method_packages
    packages = method_packages()
    assert {"baselines", "methods"} <= set(packages)
    assert all(p["origin"] and "version" in p for k, p in packages.items() if k != "skipped_plugins")
