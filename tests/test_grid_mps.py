"""`harness grid --mps`: NVIDIA's MPS daemon started before the runs and stopped after them; a
one-line usage error where there is no MPS."""
from __future__ import annotations

import os
import stat

from harness.cli import main


def test_mps_without_the_control_program_is_a_one_line_usage_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-cuda-mps-control
    code = main(["grid", "--tasks", "demo", "--methods", "identity", "--device", "cpu", "--out", str(tmp_path),
                 "--mps", "--dry-run"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "nvidia-cuda-mps-control" in err


def _fake_control(tmp_path, monkeypatch):
    calls = tmp_path / "calls.txt"
    control = tmp_path / "bin" / "nvidia-cuda-mps-control"
    control.parent.mkdir()
    # A stand-in for NVIDIA's program: records how it is called (arguments, stdin, its pipe folder).
    control.write_text(f'#!/bin/sh\necho "args=$* pipe=$CUDA_MPS_PIPE_DIRECTORY stdin=$(cat -)" >> {calls}\n')
    control.chmod(control.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{control.parent}{os.pathsep}{os.environ['PATH']}")
    return calls


def test_mps_daemon_starts_with_its_own_pipe_folder_and_quits_after(tmp_path, monkeypatch):
    from harness.grid_local import MpsDaemon
    calls = _fake_control(tmp_path, monkeypatch)
    monkeypatch.delenv("CUDA_MPS_PIPE_DIRECTORY", raising=False)
    with MpsDaemon(tmp_path / "mps"):
        assert os.environ["CUDA_MPS_PIPE_DIRECTORY"] == str(tmp_path / "mps" / "pipe")  # what the runs inherit
    assert "CUDA_MPS_PIPE_DIRECTORY" not in os.environ
    pipe = tmp_path / "mps" / "pipe"
    assert calls.read_text().splitlines() == [f"args=-d pipe={pipe} stdin=", f"args= pipe={pipe} stdin=quit"]


def test_grid_runs_its_pool_under_the_mps_daemon(tmp_path, capsys, monkeypatch):
    from harness import grid_local
    calls = _fake_control(tmp_path, monkeypatch)
    seen = []

    def pool(items, slots):  # the runs themselves are covered elsewhere; here: what they would inherit
        seen.append((os.environ.get("CUDA_MPS_PIPE_DIRECTORY"), len(calls.read_text().splitlines())))
        return [{"run_dir": str(i.spec.run_dir), "outcome": "trained", "slot": "cpu#0"} for i in items]

    monkeypatch.setattr(grid_local, "run_pool", pool)
    code = main(["grid", "--tasks", "demo", "--methods", "identity", "--seeds", "0", "1", "--device", "cpu",
                 "--parallel", "2", "--out", str(tmp_path / "r"), "--mps"])
    assert code == 0 and "under MPS" in capsys.readouterr().out
    assert seen == [(str(tmp_path / "r" / ".mps" / "pipe"), 1)]  # started before the runs
    assert len(calls.read_text().splitlines()) == 2  # and stopped after them
