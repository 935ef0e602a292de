"""SIGKILL runs at random points (training steps, checkpoint writes, translation writes, evaluation,
the result write), continue each with `harness resume`, and check that the run ends in exactly the
state of an uninterrupted run: networks, optimizers, image pools, attention memories, every RNG
stream, the loss log, translations and result; and that no file a later stage trusts is ever partial.

Seed-independent: kill points are drawn from what is left of the run at each attempt. CI runs two
trials; `KILL_TEST_SEEDS=0-9` (or `KILL_TEST_SEED=3`) runs others, and `KILL_TEST_REPORT=FILE`
appends one JSON line per trial (seed, method, kill phases, bit-identical).
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from harness.training.checkpoint import read_checkpoint

REPO = Path(__file__).resolve().parents[1]
CHILD = Path(__file__).with_name("kill_child.py")
# 4 epochs of 5 iterations, checkpoints every 2 steps and at each epoch end, tiny networks.
SCHEDULE = """name: killtest
description: fault-tolerance test schedule (tiny, many checkpoints)
epochs_constant: 2
epochs_decay: 2
max_iters_per_epoch: 5
image_size: 32
checkpoint_every: 2
log_every: 3
sample_count: 2
"""
TOTAL_STEPS = 20
CHECKPOINT_STEPS = sorted({s for s in range(1, TOTAL_STEPS + 1) if s % 2 == 0 or s % 5 == 0})
N_PNG_WRITES = 2 * 16 + 2  # translations of both test sets, then one sample grid per direction
# cyclegan has image pools; asgit-pha-rhp has pools and the attention memory.
METHODS = {"cyclegan": ["ngf=8", "ndf=8", "n_blocks=1", "pool_size=3"],
           "asgit-pha-rhp": ["ngf=8", "ndf=8", "n_blocks=1", "pool_size=3"]}


def _seeds() -> list[int]:
    if os.environ.get("KILL_TEST_SEEDS"):
        first, _, last = os.environ["KILL_TEST_SEEDS"].partition("-")
        return list(range(int(first), int(last or first) + 1))
    if os.environ.get("KILL_TEST_SEED"):
        return [int(os.environ["KILL_TEST_SEED"])]
    return [0, 1]


def _harness(args: list[str], plan: str = "") -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), TQDM_DISABLE="1", OMP_NUM_THREADS="1", KILL_PLAN=plan)
    env.pop("WORLD_SIZE", None)
    return subprocess.run([sys.executable, str(CHILD), *args], env=env, capture_output=True, text=True,
                          timeout=600)


def _run_args(method: str, schedule: Path, out: Path) -> list[str]:
    args = ["run", "--task", "demo", "--methods", method, "--schedule", str(schedule), "--device", "cpu",
            "--out", str(out)]
    for item in METHODS[method]:
        args += ["--set", item]
    return args


def _run_dir(out: Path, method: str) -> Path:
    runs = list((out / "demo" / method).glob("killtest-seed0*"))
    assert len(runs) <= 1, runs
    return runs[0] if runs else out / "missing"


def _checkpoint_step(run_dir: Path) -> int:
    path = run_dir / "checkpoints" / "latest.pt"
    return read_checkpoint(path)["position"]["step"] if path.exists() else 0


def _plan(rng: random.Random, run_dir: Path) -> tuple[str, str]:
    """A kill point among those the next process will reach."""
    step = _checkpoint_step(run_dir)
    phases = ["translate", "evaluate", "result"]
    if step < TOTAL_STEPS:
        phases += ["train", "checkpoint"]
    phase = rng.choice(phases)
    if phase == "train":
        return phase, f"train:{rng.randint(1, TOTAL_STEPS - step)}"
    if phase == "checkpoint":
        left = len([s for s in CHECKPOINT_STEPS if s > step])
        name = rng.choice(["latest.pt", "previous.pt"])  # mid-write, or between keeping previous and replacing
        return phase, f"write:{name}:{rng.randint(1, left - 1 if name == 'previous.pt' and left > 1 else left)}"
    if phase == "translate":
        return phase, f"write:*.png:{rng.randint(1, N_PNG_WRITES)}"
    if phase == "evaluate":
        return phase, f"evaluate:{rng.randint(0, 300)}"
    return phase, "write:result.json:1"


def _assert_nothing_partial(run_dir: Path) -> None:
    """Every file that is not a temporary of an atomic write must be complete and readable."""
    for path in run_dir.rglob("*"):
        if not path.is_file() or path.name.startswith("."):
            continue
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".pt":
            assert {"model", "optimizers", "position", "rng", "method_extra"} <= set(read_checkpoint(path)), path
        elif path.suffix == ".png":
            with Image.open(path) as img:
                img.load()


def _differences(a, b, where: str = "") -> list[str]:
    """Paths at which two checkpoint payloads differ (tensors bit for bit)."""
    if torch.is_tensor(a) or torch.is_tensor(b):
        same = torch.is_tensor(a) and torch.is_tensor(b) and a.dtype == b.dtype and a.shape == b.shape \
            and torch.equal(a, b)
        return [] if same else [where]
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{where}: keys {sorted(set(a) ^ set(b))}"]
        return [d for k in a for d in _differences(a[k], b[k], f"{where}.{k}")]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{where}: length {len(a)} vs {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _differences(x, y, f"{where}[{i}]")]
    return [] if a == b else [f"{where}: {a!r} vs {b!r}"]


def _final_state(run_dir: Path) -> dict:
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "complete" and result["run"]["steps"] == TOTAL_STEPS
    payload = read_checkpoint(run_dir / "checkpoints" / "latest.pt")
    payload["trainer"].pop("wall_time_s")
    metrics = {d: {k: {f: v for f, v in e.items() if f != "seconds"} for k, e in m.items()}
               for d, m in result["metrics"].get("directions", {}).items()}
    return {"checkpoint": payload, "losses.jsonl": (run_dir / "losses.jsonl").read_text(),
            "last_losses": result["run"]["last_losses"], "weights_sha256": result["run"]["weights_sha256"],
            "translations": {p.relative_to(run_dir).as_posix(): p.read_bytes()
                             for p in sorted((run_dir / "translations").rglob("*.png"))},
            "metrics": metrics}


@pytest.fixture(scope="module")
def clean_runs(tmp_path_factory):
    """One uninterrupted run per method, made on first use."""
    root = tmp_path_factory.mktemp("clean")
    (root / "killtest.yaml").write_text(SCHEDULE)
    cache: dict[str, dict] = {}

    def get(method: str) -> dict:
        if method not in cache:
            done = _harness(_run_args(method, root / "killtest.yaml", root / "out"))
            assert done.returncode == 0, done.stderr[-2000:]
            cache[method] = _final_state(_run_dir(root / "out", method))
        return cache[method]
    return get


@pytest.mark.slow  # several harness processes per trial, each killed and resumed
@pytest.mark.parametrize("seed", _seeds())
def test_sigkill_anywhere_then_harness_resume_gives_the_uninterrupted_state(seed, tmp_path, clean_runs):
    method = list(METHODS)[seed % len(METHODS)]
    expected = clean_runs(method)
    schedule = tmp_path / "killtest.yaml"
    schedule.write_text(SCHEDULE)
    out = tmp_path / "killed"
    rng = random.Random(seed)
    phases = []
    for attempt in range(4):
        run_dir = _run_dir(out, method)
        if (run_dir / "result.json").exists():
            break
        phase, plan = _plan(rng, run_dir) if attempt < 3 else ("", "")
        args = ["resume", str(run_dir)] if (run_dir / "run.json").exists() else _run_args(method, schedule, out)
        done = _harness(args, plan)
        if done.returncode == -signal.SIGKILL:
            phases.append(f"{phase} ({plan})")
        elif done.returncode != 0:
            pytest.fail(f"{' '.join(args[:2])} with KILL_PLAN={plan!r} exited {done.returncode}: {done.stderr[-2000:]}")
        _assert_nothing_partial(_run_dir(out, method))
    assert phases, "no process was killed; the test did not test anything"
    got = _final_state(_run_dir(out, method))
    different = _differences(expected, got)
    if os.environ.get("KILL_TEST_REPORT"):
        with open(os.environ["KILL_TEST_REPORT"], "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"seed": seed, "method": method, "kills": phases,
                                 "bit_identical": not different, "differences": different[:5]}) + "\n")
    assert not different, f"{len(different)} differences after kill-and-resume ({phases}), e.g. {different[:5]}"
