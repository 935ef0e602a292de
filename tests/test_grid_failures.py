"""A run that raises one of torch's own errors fails alone: its traceback lands in its log, the
grid's summary lists it, and the other runs of the grid go on (in-process, process pool, submitit)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from baselines.cyclegan import CycleGAN
from harness import grid, grid_local
from harness.cli import main
from harness.registry import METHODS

BROKEN = "torch-error-test"


class TorchErrorMethod(CycleGAN):
    """A tiny CycleGAN whose step hits a shape error inside torch (as a CUDA or OOM error would)."""

    def __init__(self, config, context):
        super().__init__(dataclasses.replace(config, ngf=4, ndf=4, n_blocks=1), context)

    def training_step(self, batch):
        return {"loss": torch.zeros(2, 3) @ torch.zeros(2, 3)}  # RuntimeError from torch


@pytest.fixture
def broken_method():
    METHODS.register(BROKEN, TorchErrorMethod)
    try:
        yield BROKEN
    finally:
        METHODS.unregister(BROKEN)


def _specs(tmp_path: Path, method: str) -> list:
    return grid.expand(["demo"], [method, "identity"], [0], "smoke", device="cpu", out=str(tmp_path))


def _assert_traceback_in_log(run_dir: Path) -> None:
    text = (run_dir / "train.log").read_text()
    assert "Traceback" in text and "RuntimeError" in text and "cannot be multiplied" in text


def test_in_process_grid_goes_on_after_a_torch_error_and_logs_its_traceback(tmp_path, broken_method):
    bad, good = _specs(tmp_path, broken_method)
    report = grid.run_local([bad, good])
    assert [e["outcome"] for e in report] == ["failed", "trained"]
    assert report[0]["error"].startswith("RuntimeError") and "cannot be multiplied" in report[0]["error"]
    assert (good.run_dir / "result.json").is_file()
    _assert_traceback_in_log(bad.run_dir)


def test_grid_command_lists_the_failed_run_in_its_summary(tmp_path, capsys, broken_method):
    code = main(["grid", "--tasks", "demo", "--methods", f"{broken_method},identity", "--device", "cpu",
                 "--out", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 1
    assert "failed" in captured.out and "trained" in captured.out
    assert "1 of 2 run(s) did not finish" in captured.err and "RuntimeError" in captured.err
    assert "train.log" in captured.err


def test_process_pool_worker_reports_a_torch_error_with_its_traceback(tmp_path, capsys, broken_method):
    bad = _specs(tmp_path, broken_method)[0]
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps({"spec": dataclasses.asdict(bad), "schedules": grid.schedules_of([bad])}))
    with pytest.raises(SystemExit) as stopped:
        grid_local.worker_main([str(spec_file)])
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("harness: error: RuntimeError")


def test_submitit_task_runs_the_others_and_lists_the_torch_error(tmp_path, broken_method, monkeypatch):
    pytest.importorskip("submitit")
    import pdb
    monkeypatch.setattr(pdb, "post_mortem", lambda *args: None)  # submitit's debug executor would stop in pdb
    bad, good = _specs(tmp_path / "r", broken_method)
    job = grid.submit([bad, good], tmp_path / "slurm", cluster="debug", gpus_per_job=1, runs_per_gpu=2)[0]
    with pytest.raises(Exception, match="1 run\\(s\\) of this task failed"):
        job.result()
    assert (good.run_dir / "result.json").is_file()
    _assert_traceback_in_log(bad.run_dir)
