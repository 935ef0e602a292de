"""`harness grid`: expansion into RunSpecs, and local execution that skips finished runs and
resumes interrupted ones."""
from __future__ import annotations

import json

import pytest
import torch

from harness import grid
from harness.cli import main
from harness.errors import UsageError
from harness.pipeline import execute
from harness.registry import METHODS
from harness.training.method import Method
from harness.training.trainer import Interrupted

TINY = {"ngf": 8, "ndf": 8, "n_blocks": 1}


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_expand_crosses_tasks_methods_seeds_and_skips_methods_that_do_not_fit():
    class PairedOnly(Method):
        settings = ("supervised",)

    METHODS.register("paired-only-test", PairedOnly)
    try:
        specs = grid.expand(["demo", "horse2zebra"], ["cyclegan", "paired-only-test"], [0, 1], "smoke", out="o")
    finally:
        METHODS.unregister("paired-only-test")
    got = [(s.task, s.method, s.seed) for s in specs]
    # demo has paired data, horse2zebra does not: the supervised method runs on demo only.
    assert got == [("demo", "cyclegan", 0), ("demo", "cyclegan", 1), ("demo", "paired-only-test", 0),
                   ("demo", "paired-only-test", 1), ("horse2zebra", "cyclegan", 0), ("horse2zebra", "cyclegan", 1)]
    assert {s.run_dir.parts[0] for s in specs} == {"o"}
    with pytest.raises(Exception, match="cyclegn"):
        grid.expand(["demo"], ["cyclegn"], [0])
    with pytest.raises(UsageError):
        grid.expand(["demo"], ["cyclegan"], [])


def test_local_grid_skips_complete_runs_and_resumes_interrupted_ones(tmp_path, one_thread):
    specs = grid.expand(["demo"], ["cyclegan"], [0, 1], "smoke", device="cpu", out=str(tmp_path), overrides=TINY)
    done, unfinished = specs
    execute(done)
    with pytest.raises(Interrupted):
        execute(unfinished, stop_at_step=4)
    assert [item.state for item in grid.plan(specs)] == ["complete", "interrupted"]
    stamp = (done.run_dir / "result.json").stat().st_mtime_ns

    report = grid.run_local(specs)
    assert [e["outcome"] for e in report] == ["skipped", "resumed"]
    assert (done.run_dir / "result.json").stat().st_mtime_ns == stamp
    resumed = json.loads((unfinished.run_dir / "result.json").read_text())
    assert resumed["run"]["resumed_from_step"] == 4 and resumed["run"]["steps"] == 9
    assert [item.state for item in grid.plan(specs)] == ["complete", "complete"]


def test_grid_command_runs_a_small_sweep_end_to_end(tmp_path, capsys, one_thread):
    argv = ["grid", "--tasks", "demo", "--methods", "cyclegan", "--seeds", "0", "1", "--device", "cpu",
            "--out", str(tmp_path), "--set", "ngf=8", "--set", "ndf=8", "--set", "n_blocks=1"]
    assert main([*argv, "--dry-run"]) == 0
    assert "2 runs (0 complete, 0 to resume, 2 new)" in capsys.readouterr().out
    assert main(argv) == 0
    assert len(list(tmp_path.glob("demo/cyclegan/*/result.json"))) == 2
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2 runs (2 complete" in out and out.count("skipped") == 2


def test_submitit_array_path_runs_pending_specs(tmp_path, one_thread):
    pytest.importorskip("submitit")
    specs = grid.expand(["demo"], ["cyclegan"], [3], "smoke", device="cpu", out=str(tmp_path / "r"), overrides=TINY)
    jobs = grid.submit(specs, tmp_path / "slurm", cluster="debug")
    assert len(jobs) == 1
    assert jobs[0].result() == [str(specs[0].run_dir)]
    assert grid.submit(specs, tmp_path / "slurm", cluster="debug") == []  # complete: nothing to submit
