"""`harness grid`: expansion into RunSpecs, and local execution that skips finished runs and
resumes interrupted ones."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from harness import grid, grid_local
from harness.grid_local import Gpu, child_env, first_wave, make_slots, run_pool, runs_per_gpu
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


# ---- several runs at once: placement (fake GPUs), the process pool, Slurm arrays -----------------
FAKE_GPUS = [Gpu(0, free_gb=70.0, total_gb=80.0, name="fake"), Gpu(1, free_gb=30.0, total_gb=80.0, name="fake")]


def test_runs_per_gpu_follow_the_smallest_free_memory_and_slots_spread_the_first_wave():
    assert runs_per_gpu(FAKE_GPUS, gb_per_run=8.0) == 3  # 30 GB x 0.9 // 8
    assert runs_per_gpu(FAKE_GPUS, gb_per_run=1.0) == 8  # capped
    assert runs_per_gpu([Gpu(0, 2.0, 80.0)], gb_per_run=8.0) == 1  # at least one
    assert runs_per_gpu([]) == 1
    slots = make_slots(FAKE_GPUS, 2)
    assert [s.label for s in slots] == ["gpu0#0", "gpu1#0", "gpu0#1", "gpu1#1"]
    assert [s.label for s in make_slots([], 2, cpu_parallel=3)] == ["cpu#0", "cpu#1", "cpu#2"]
    wave = first_wave(6, slots)
    assert [w.label if w else None for w in wave] == ["gpu0#0", "gpu1#0", "gpu0#1", "gpu1#1", None, None]
    env = child_env(slots[1], n_slots=4)
    assert env["CUDA_VISIBLE_DEVICES"] == "1" and int(env["HARNESS_LOADER_WORKERS"]) >= 1


def test_dry_run_shows_the_placement_on_the_gpus_it_finds(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(grid_local, "discover_gpus", lambda: list(FAKE_GPUS))
    argv = ["grid", "--tasks", "demo", "--methods", "cyclegan", "--seeds", "0", "1", "2", "3", "4",
            "--out", str(tmp_path), "--runs-per-gpu", "2", "--dry-run"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "slots: 4 (gpu0#0, gpu1#0, gpu0#1, gpu1#1)" in out
    lines = [ln.split() for ln in out.splitlines() if "smoke-seed" in ln]
    assert [ln[1] for ln in lines] == ["gpu0#0", "gpu1#0", "gpu0#1", "gpu1#1", "queued"]
    assert main([*argv[:-3], "--gpus", "1", "--gb-per-run", "10", "--dry-run"]) == 0
    assert "slots: 2 (gpu1#0, gpu1#1)" in capsys.readouterr().out  # K from 30 GB free at 10 GB a run
    assert main([*argv[:-3], "--gpus", "5", "--dry-run"]) == 2


def test_slurm_executor_without_slurm_is_a_one_line_usage_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch
    code = main(["grid", "--tasks", "demo", "--methods", "cyclegan", "--out", str(tmp_path), "--executor", "slurm"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "sbatch" in err


def test_process_pool_runs_each_run_in_its_own_process_and_reports_failures_with_logs(tmp_path):
    good = grid.expand(["demo"], ["cyclegan"], [0], "smoke", device="cpu", out=str(tmp_path), overrides=TINY)[0]
    bad = grid.expand(["demo"], ["cyclegan"], [1], "smoke", device="cpu", out=str(tmp_path),
                      overrides={**TINY, "no_such_option": 1})[0]
    slots = make_slots([], 1, cpu_parallel=2)
    report = run_pool(grid.plan([good, bad]), slots)
    assert [e["outcome"] for e in report] == ["trained", "failed"]
    assert {e["slot"] for e in report} == {"cpu#0", "cpu#1"}
    assert "no_such_option" in report[1]["error"] and "no_such_option" in Path(report[1]["log"]).read_text()
    assert json.loads((good.run_dir / "result.json").read_text())["seed"] == 0
    again = run_pool(grid.plan([good, bad]), slots)
    assert [e["outcome"] for e in again] == ["skipped", "failed"]


def test_slurm_array_packs_runs_per_job_and_each_job_runs_its_share(tmp_path, one_thread):
    pytest.importorskip("submitit")
    specs = grid.expand(["demo"], ["cyclegan"], [5, 6, 7], "smoke", device="cpu", out=str(tmp_path / "r"),
                        overrides=TINY)
    jobs = grid.submit(specs, tmp_path / "slurm", cluster="debug", gpus_per_job=1, runs_per_gpu=2)
    assert len(jobs) == 2  # 3 runs, 2 per job
    assert [job.result() for job in jobs] == [[str(specs[0].run_dir), str(specs[1].run_dir)], [str(specs[2].run_dir)]]
    assert grid.submit(specs, tmp_path / "slurm", cluster="debug") == []
