"""Preemption: a signal during training makes the trainer finish the step, checkpoint at that
step and stop with `Preempted`; resuming ends with exactly the weights of an uninterrupted run.
Under submitit the grid task hands over to submitit's checkpoint-and-requeue, and the requeued
job resumes the run (local executor: real processes, a real SIGTERM)."""
from __future__ import annotations

import json
import os
import signal
import time

import pytest
import torch

from baselines.cyclegan import CycleGAN
from harness import grid
from harness.cli import main
from harness.pipeline import RunSpec, execute
from harness.registry import METHODS
from harness.training import preemption

TINY = {"ngf": 8, "ndf": 8, "n_blocks": 1}


class SignalsItself(CycleGAN):
    """CycleGAN that sends itself a signal during the step `at` (a scheduler's warning, in-process)."""

    at: int | None = None
    signum = signal.SIGUSR1

    def training_step(self, batch):
        if self.step_count == SignalsItself.at:
            os.kill(os.getpid(), SignalsItself.signum)
        return super().training_step(batch)


@pytest.fixture(scope="module")
def signalling_method():
    METHODS.register("cyclegan-signals-test", SignalsItself)
    yield "cyclegan-signals-test"
    METHODS.unregister("cyclegan-signals-test")


@pytest.fixture(autouse=True)
def _no_signal_planned():
    SignalsItself.at = None
    yield
    SignalsItself.at = None


@pytest.fixture(scope="module")
def uninterrupted_weights(signalling_method, tmp_path_factory) -> str:
    """weights_sha256 of the run that no signal stopped: the same for every signal, so trained once."""
    SignalsItself.at = None
    straight = RunSpec("demo", signalling_method, "smoke", 0, "cpu", out=str(tmp_path_factory.mktemp("straight")),
                       overrides=TINY)
    execute(straight)
    return json.loads((straight.run_dir / "result.json").read_text())["run"]["weights_sha256"]


def _checkpoint_step(run_dir) -> int:
    return torch.load(run_dir / "checkpoints" / "latest.pt", map_location="cpu", weights_only=True)["position"]["step"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2])
def test_signal_checkpoints_at_that_step_and_resume_matches_an_uninterrupted_run(tmp_path, signalling_method, signum,
                                                                                 uninterrupted_weights):
    before = {s: signal.getsignal(s) for s in preemption.SIGNALS}
    spec = RunSpec("demo", signalling_method, "smoke", 0, "cpu", out=str(tmp_path / "stopped"), overrides=TINY)
    SignalsItself.at, SignalsItself.signum = 4, signum  # during the 5th step; smoke saves every 2 steps
    with pytest.raises(preemption.Preempted) as caught:
        execute(spec)
    assert caught.value.step == 5 and caught.value.exit_code == 128 + signum
    assert _checkpoint_step(spec.run_dir) == 5  # saved at the signal, not only at the last periodic save
    assert not (spec.run_dir / "result.json").exists()
    assert {s: signal.getsignal(s) for s in preemption.SIGNALS} == before  # handlers restored
    SignalsItself.at = None
    execute(spec)
    resumed = json.loads((spec.run_dir / "result.json").read_text())
    assert resumed["run"]["resumed_from_step"] == 5
    assert resumed["run"]["weights_sha256"] == uninterrupted_weights


def test_harness_run_exits_with_the_signal_code_and_a_resume_hint(tmp_path, signalling_method, capsys):
    SignalsItself.at, SignalsItself.signum = 2, signal.SIGTERM
    code = main(["run", "--task", "demo", "--methods", signalling_method, "--device", "cpu", "--out", str(tmp_path),
                 "--set", "ngf=8", "--set", "ndf=8", "--set", "n_blocks=1"])
    assert code == 128 + signal.SIGTERM
    err = capsys.readouterr().err
    assert "stopped by SIGTERM at step 3" in err and "harness resume" in err


def test_hand_over_outside_submitit_raises_the_exception_again(tmp_path):
    exc = preemption.Preempted(signal.SIGTERM, 7, tmp_path / "run" / "checkpoints" / "latest.pt")
    with pytest.raises(preemption.Preempted):
        preemption.hand_over_to_submitit(exc)


def test_loader_workers_ignore_the_preemption_signals():
    import multiprocessing
    proc = multiprocessing.get_context("spawn").Process(target=_ignore_then_signal_itself)
    proc.start()
    proc.join(timeout=120)
    assert proc.exitcode == 0  # not ended by any of the signals


def _ignore_then_signal_itself() -> None:
    preemption.ignore_in_worker(0)
    for sig in preemption.SIGNALS:
        os.kill(os.getpid(), sig)
    time.sleep(0.05)


def test_submitit_requeues_a_preempted_grid_job_and_the_run_resumes(tmp_path):
    pytest.importorskip("submitit")
    schedule = tmp_path / "long.yaml"
    # Long enough that the signal lands during training; tiny networks so the rest is quick.
    schedule.write_text("name: requeue-test\ndescription: test\nepochs_constant: 1\nepochs_decay: 0\n"
                        "max_iters_per_epoch: 48\nimage_size: 32\ncheckpoint_every: 1000\nlog_every: 1\n"
                        "sample_count: 1\n")
    from harness.cli.run_cmd import resolve_schedule
    name = resolve_schedule(str(schedule))
    specs = grid.expand(["demo"], ["cyclegan"], [0], name, device="cpu", out=str(tmp_path / "r"),
                        overrides={**TINY, "ngf": 4, "ndf": 4})
    run_dir = specs[0].run_dir
    jobs = grid.submit(specs, tmp_path / "slurm", cluster="local")
    job = jobs[0]
    deadline = time.time() + 240
    while not (run_dir / "losses.jsonl").exists() or (run_dir / "losses.jsonl").read_text().count("\n") < 2:
        assert time.time() < deadline and job.state == "RUNNING", job.stderr()
        time.sleep(0.05)
    os.kill(job._process.pid, signal.SIGTERM)  # the controller forwards it to the task, like Slurm
    assert job.result() == [str(run_dir)]
    result = json.loads((run_dir / "result.json").read_text())
    assert 0 < result["run"]["resumed_from_step"] < 48 and result["run"]["steps"] == 48
    logs = (job.stdout() or "") + (job.stderr() or "")
    assert "Caught signal" in logs and "Requeued job" in logs and "resuming from step" in logs, logs[-3000:]
