"""Kill a training run with SIGKILL at random steps, resume it each time, and check that it ends
with exactly the weights of an uninterrupted run and that no result or checkpoint file is ever
partial (every file a later stage trusts is complete whenever the process dies)."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
# 4 epochs of 5 iterations, checkpoints every 2 steps and at each epoch end, tiny networks.
SCHEDULE = """name: killtest
description: fault-tolerance test schedule (tiny, many checkpoints)
epochs_constant: 2
epochs_decay: 2
max_iters_per_epoch: 5
image_size: 32
checkpoint_every: 2
log_every: 1
sample_count: 2
"""
OVERRIDES = ["ngf=8", "ndf=8", "n_blocks=1", "pool_size=3"]
TOTAL_STEPS = 20


def _command(schedule: Path, out: Path) -> list[str]:
    cmd = [sys.executable, "-m", "harness", "run", "--task", "demo", "--methods", "cyclegan",
           "--schedule", str(schedule), "--device", "cpu", "--out", str(out)]
    for item in OVERRIDES:
        cmd += ["--set", item]
    return cmd


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), TQDM_DISABLE="1", OMP_NUM_THREADS="1")
    env.pop("WORLD_SIZE", None)
    return env


def _run_dir(out: Path) -> Path:
    runs = list((out / "demo" / "cyclegan").glob("killtest-seed0*"))
    assert len(runs) <= 1, runs
    return runs[0] if runs else out / "missing"


def _steps_logged(run_dir: Path) -> int:
    log = run_dir / "losses.jsonl"
    return log.read_text().count("\n") if log.exists() else 0


def _assert_nothing_partial(run_dir: Path) -> None:
    """Every file that is not a temporary of an atomic write must be complete and readable."""
    for path in run_dir.rglob("*"):
        if not path.is_file() or (path.name.startswith(".") and path.name.endswith(".tmp")):
            continue
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".pt":
            payload = torch.load(path, map_location="cpu", weights_only=False)
            assert {"model", "optimizers", "position", "rng"} <= set(payload), path


def _final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "complete" and result["run"]["steps"] == TOTAL_STEPS
    return torch.load(run_dir / "checkpoints" / "latest.pt", map_location="cpu", weights_only=False)["model"]


def test_sigkill_at_random_steps_then_resume_gives_the_uninterrupted_weights(tmp_path):
    schedule = tmp_path / "killtest.yaml"
    schedule.write_text(SCHEDULE)
    clean_out, killed_out = tmp_path / "clean", tmp_path / "killed"
    subprocess.run(_command(schedule, clean_out), env=_env(), check=True, capture_output=True, timeout=120)
    expected = _final_weights(_run_dir(clean_out))

    rng = random.Random(os.environ.get("KILL_TEST_SEED", "9"))
    kills = 0
    for attempt in range(8):
        run_dir = _run_dir(killed_out)
        if (run_dir / "result.json").exists():
            break
        target = rng.randint(_steps_logged(run_dir) + 1, TOTAL_STEPS) if attempt < 3 else None
        proc = subprocess.Popen(_command(schedule, killed_out), env=_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while target is not None and proc.poll() is None and time.monotonic() < deadline:
            if _steps_logged(_run_dir(killed_out)) >= target:
                proc.send_signal(signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.002)
        _, err = proc.communicate(timeout=120)
        if proc.returncode not in (0, -signal.SIGKILL):
            pytest.fail(f"run exited with {proc.returncode}: {err.decode()[-2000:]}")
        _assert_nothing_partial(_run_dir(killed_out))
    assert kills >= 2, "the runs finished before they could be killed; the test did not test anything"
    got = _final_weights(_run_dir(killed_out))
    assert got.keys() == expected.keys()
    different = [k for k in expected if not torch.equal(expected[k], got[k])]
    assert not different, f"{len(different)} tensors differ after kill-and-resume, e.g. {different[:3]}"
