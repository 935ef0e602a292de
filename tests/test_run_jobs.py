"""`harness run --jobs N`: the runs of a request side by side, each its own process, with the results a
sequential request writes and output in whole lines (through the real CLI, smoke schedule, demo task)."""
from __future__ import annotations

import contextlib
import json

import pytest

from harness.cli import main
from harness.evaluation.inception import ENV_INCEPTION_WEIGHTS

METHODS = "pix2pix,identity"


@pytest.fixture(scope="module")
def sequential_and_parallel(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("jobs")
    outputs = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_CACHE", str(tmp / "cache"))
        mp.setenv("TORCH_HOME", str(tmp / "torch-home"))  # no Inception weights: KID unavailable, quickly
        mp.delenv(ENV_INCEPTION_WEIGHTS, raising=False)
        mp.setenv("OMP_NUM_THREADS", "1")
        for jobs in (1, 2):
            out = tmp / f"jobs{jobs}"
            stdout, stderr = tmp / f"stdout{jobs}", tmp / f"stderr{jobs}"
            with stdout.open("w") as so, stderr.open("w") as se, contextlib.redirect_stdout(so), \
                    contextlib.redirect_stderr(se):
                code = main(["run", "--task", "demo", "--methods", METHODS, "--schedule", "smoke", "--device", "cpu",
                             "--discard-checkpoints", "--out", str(out), "--jobs", str(jobs)])
            outputs[jobs] = (code, out, stdout.read_text(), stderr.read_text())
    return outputs


def result(out, method: str) -> dict:
    (path,) = (out / "demo" / method).glob("smoke-seed0/result.json")
    return json.loads(path.read_text())


def test_parallel_runs_write_the_sequential_results_bit_for_bit(sequential_and_parallel):
    (code1, out1, _, _), (code2, out2, _, _) = sequential_and_parallel[1], sequential_and_parallel[2]
    assert code1 == code2 == 0
    for method in METHODS.split(","):
        one, two = result(out1, method), result(out2, method)
        assert one["metrics"]["directions"] == two["metrics"]["directions"]  # every value, exactly
        assert one["run"]["weights_sha256"] == two["run"]["weights_sha256"]
    assert result(out2, "pix2pix")["run"]["steps"] > 0


def test_parallel_output_is_whole_lines_one_result_path_each(sequential_and_parallel):
    _, out, stdout, stderr = sequential_and_parallel[2]
    # stdout: result paths, and (from a run slower than the monitor's interval) progress lines naming their run
    paths = [line for line in stdout.splitlines() if not line.startswith("[")]
    assert sorted(paths) == sorted(str(p) for p in out.glob("demo/*/smoke-seed0/result.json"))
    assert len(paths) == 2
    log_lines = [line for line in stderr.splitlines() if line.strip()]
    # Each child's line arrives whole, prefixed with its method; the grouped "unavailable" summary is printed
    # once, by the parent, without a prefix.
    assert any(line.startswith("[pix2pix] INFO harness.pipeline: training pix2pix") for line in log_lines)
    assert any(line.startswith("[identity] ") for line in log_lines)
    _, _, _, sequential_stderr = sequential_and_parallel[1]
    summary = [line for line in sequential_stderr.splitlines() if "unavailable" in line.lower()
               and not line.startswith("INFO") and not line.startswith("WARNING")]
    for line in summary:
        assert stderr.count(line) == 1, line


def test_jobs_must_be_at_least_one(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "--task", "demo", "--methods", "identity", "--jobs", "0"])
    assert exc.value.code == 2
    assert "--jobs" in capsys.readouterr().err


def test_a_failed_run_is_reported_and_its_worker_goes_on(capsys):
    import threading

    from harness.cli.run_jobs import Worker
    worker = Worker(threading.Lock(), several_seeds=False)
    try:
        bad = worker.run(["run", "--task", "demo", "--methods", "pix2pox", "--device", "cpu"], "pix2pox", 0)
        listing = worker.run(["list", "schedules"], "list", 0)
    finally:
        worker.close()
    assert bad == (2, [])
    assert listing[0] == 0 and any("demo" in line for line in listing[1])
    err = capsys.readouterr().err
    # The usage error arrives whole, labelled with its run; no worker bookkeeping line is ever shown.
    assert any(line.startswith("[pix2pox] ") and "pix2pix" in line for line in err.splitlines()), err
    assert "harness-run-done" not in err
