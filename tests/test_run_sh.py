"""`./run.sh demo` as a user runs it, with a stand-in `harness` that records its arguments (the real commands
are tested elsewhere): the demo runs one job per core even where OMP_NUM_THREADS=1 is already set, as this
project's measurement instructions ask (GNU nproc reports OMP_NUM_THREADS when it is set)."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("nproc") is None, reason="needs GNU nproc")
@pytest.mark.parametrize("omp", ["1", None])
def test_demo_runs_one_job_per_core_whatever_omp_num_threads_says(tmp_path, omp):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    # setup() reinstalls only when pyproject.toml changed: a stamp that matches skips the install
    stamp = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()
    (venv / ".harness-installed").write_text(stamp + "\n")
    (venv / "bin" / "python").symlink_to(shutil.which("python3") or "/usr/bin/python3")
    calls = tmp_path / "calls.txt"
    harness = venv / "bin" / "harness"
    harness.write_text(f'#!/bin/sh\necho "OMP=$OMP_NUM_THREADS $*" >> "{calls}"\n')
    harness.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "DEMO_JOBS")}
    env["HARNESS_VENV"] = str(venv)
    if omp is not None:
        env["OMP_NUM_THREADS"] = omp
    subprocess.run([str(REPO / "run.sh"), "demo"], env=env, cwd=tmp_path, check=True, capture_output=True,
                   timeout=60)
    first = calls.read_text().splitlines()[0]
    cores = len(os.sched_getaffinity(0))
    assert first.startswith("OMP=1 run --task demo --methods all"), first  # one torch thread per run
    assert f"--jobs {cores}" in first, (cores, first)
