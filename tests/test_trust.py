"""Runs one can trust: safe checkpoint loading, resume that refuses drift, a previous checkpoint to fall
back on, a lock per run folder, non-finite weights never checkpointed, names that stay inside --out."""
from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys

import pytest
import torch

from harness.cli import main
from harness.cli.run_cmd import resolve_schedule
from harness.errors import HarnessError, UsageError
from harness.pipeline import RunSpec, execute, resume
from harness.registry import SCHEDULES
from harness.run_folder import RunLock
from harness.training.checkpoint import CheckpointError, read_checkpoint
from harness.training.trainer import Interrupted

TINY = {"ngf": 8, "ndf": 8, "n_blocks": 1, "pool_size": 2}
SCHEDULE = """name: trusttest
description: trust test schedule (3 epochs of 3 iterations)
epochs_constant: 2
epochs_decay: 1
max_iters_per_epoch: 3
image_size: 32
checkpoint_every: 2
log_every: 1
sample_count: 1
"""


class MakesAFile:
    """Unpickling this would create a file: the proof that loading ran code."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """A run started with --schedule FILE, stopped at step 5 (checkpoints at 2, 3 (epoch end) and 4), the file then deleted."""
    root = tmp_path_factory.mktemp("interrupted")
    schedule_file = root / "trusttest.yaml"
    schedule_file.write_text(SCHEDULE)
    name = resolve_schedule(str(schedule_file))
    spec = RunSpec("demo", "cyclegan", name, seed=2, device="cpu", out=str(root / "out"), overrides=TINY)
    with pytest.raises(Interrupted):
        execute(spec, stop_at_step=5)
    SCHEDULES.unregister(name)  # as in a new process
    schedule_file.unlink()
    return spec.run_dir


@pytest.fixture
def run_dir(interrupted, tmp_path):
    copy = tmp_path / "out" / "demo" / "cyclegan" / interrupted.name
    shutil.copytree(interrupted, copy)
    yield copy
    SCHEDULES.unregister("trusttest")


def test_crafted_pickle_checkpoint_is_refused_without_running_anything(run_dir, tmp_path, capsys):
    marker = tmp_path / "code-ran"
    torch.save({"format": 2, "model": MakesAFile(str(marker))}, run_dir / "checkpoints" / "latest.pt")
    with pytest.raises(CheckpointError, match="more than tensors and plain data"):
        read_checkpoint(run_dir / "checkpoints" / "latest.pt")
    assert main(["resume", str(run_dir)]) == 1
    err = capsys.readouterr().err
    assert "latest.pt" in err and "was not loaded" in err and "Traceback" not in err
    assert not marker.exists(), "loading the checkpoint ran code"
    with open(run_dir / "unsafe.pkl", "wb") as fh:  # the same payload does run code when unpickled
        pickle.dump(MakesAFile(str(marker)), fh)
    pickle.loads((run_dir / "unsafe.pkl").read_bytes())
    assert marker.exists()


def test_checkpoint_holds_rng_states_as_plain_data(interrupted):
    payload = read_checkpoint(interrupted / "checkpoints" / "latest.pt")  # weights_only=True
    assert payload["position"]["step"] == 4
    assert isinstance(payload["rng"]["python"]["state"], list) and torch.is_tensor(payload["rng"]["numpy"]["key"])
    assert set(payload["method_extra"]) == {"pool_A", "pool_B"}
    assert read_checkpoint(interrupted / "checkpoints" / "previous.pt")["position"]["step"] == 3  # the epoch-end checkpoint


def test_resume_of_a_schedule_file_run_keeps_losses_once(run_dir):
    lines_before = (run_dir / "losses.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines_before] == [1, 2, 3, 4, 5]  # step 5 is after the checkpoint
    done = resume(run_dir)
    result = json.loads((done / "result.json").read_text())
    assert result["run"]["resumed_from_step"] == 4 and result["run"]["steps"] == 9
    assert result["config"]["schedule"]["name"] == "trusttest"
    steps = [json.loads(x)["step"] for x in (done / "losses.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 10))
    last = json.loads((done / "losses.jsonl").read_text().splitlines()[-1])
    assert result["run"]["last_losses"] == {k: v for k, v in last.items() if k not in ("step", "epoch")}
    assert result["run"]["world_size"] == 1 and result["run"]["effective_batch"] == 1


def test_resume_refuses_an_edited_schedule_file_naming_the_change(run_dir, tmp_path, capsys):
    edited = tmp_path / "trusttest.yaml"
    edited.write_text(SCHEDULE + "lr: 0.05\n")
    code = main(["run", "--task", "demo", "--methods", "cyclegan", "--schedule", str(edited), "--seed", "2",
                 "--device", "cpu", "--out", str(tmp_path / "out")] + [f"--set={k}={v}" for k, v in TINY.items()])
    assert code == 1
    err = capsys.readouterr().err
    assert "the schedule (lr: 0.0002 then, 0.05 now)" in err and "--force" in err
    assert not (run_dir / "result.json").exists()


def test_resume_refuses_other_data_naming_manifest_and_split(run_dir, tmp_path):
    from harness.data.demo import ensure_demo_data
    data = tmp_path / "data" / "demo"
    shutil.copytree(ensure_demo_data(), data)
    victim = sorted((data / "train").glob("*"))[0]
    victim.unlink()
    with pytest.raises(HarnessError) as caught:
        resume(run_dir, data_root=str(tmp_path / "data"))
    message = str(caught.value)
    assert "manifest digest" in message and "split" in message and "--force" in message


def test_damaged_latest_names_the_file_and_from_previous_continues(run_dir, capsys):
    latest = run_dir / "checkpoints" / "latest.pt"
    latest.write_bytes(latest.read_bytes()[:1000])
    assert main(["resume", str(run_dir)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(latest) in err[0] and "--from-previous" in err[0]
    assert main(["resume", str(run_dir), "--from-previous"]) == 0
    result = json.loads((run_dir / "result.json").read_text())
    assert result["run"]["resumed_from_step"] == 3 and result["run"]["steps"] == 9
    assert (run_dir / "checkpoints" / "latest.pt.damaged").exists()


def test_second_process_on_a_run_folder_is_refused_and_stale_lock_taken_over(run_dir):
    with RunLock(run_dir):
        code = subprocess.run([sys.executable, "-m", "harness", "resume", str(run_dir)], capture_output=True,
                              text=True, env=dict(os.environ, PYTHONPATH=os.getcwd()), timeout=300)
        assert code.returncode == 1
        assert f"in use by process {os.getpid()}" in code.stderr and "Traceback" not in code.stderr
    (run_dir / "run.lock").write_text("999999\n")  # left by a killed process
    with RunLock(run_dir) as lock:
        assert lock.path.read_text().strip() == str(os.getpid())


def test_non_finite_weights_are_never_checkpointed(tmp_path, capsys):
    # A checkpoint after every step: step 1's losses are finite (computed before the update), its weights not.
    schedule = tmp_path / "everystep.yaml"
    schedule.write_text(SCHEDULE.replace("trusttest", "everystep").replace("checkpoint_every: 2", "checkpoint_every: 1"))
    code = main(["run", "--task", "demo", "--methods", "cyclegan", "--device", "cpu", "--out", str(tmp_path),
                 # finite (lr=inf is refused up front) but inf once the optimizer casts it to float32
                 "--schedule", str(schedule), "--set", "lr=1e39"] + [f"--set={k}={v}" for k, v in TINY.items()])
    SCHEDULES.unregister("everystep")
    assert code == 1
    assert "weight tensor(s) became NaN or inf by step 1" in capsys.readouterr().err
    for path in tmp_path.rglob("*.pt"):
        payload = read_checkpoint(path)
        assert all(torch.isfinite(v).all() for v in payload["model"].values() if v.is_floating_point()), path


def test_names_from_files_cannot_escape_out(tmp_path, capsys):
    schedule = tmp_path / "escape.yaml"
    schedule.write_text(SCHEDULE.replace("name: trusttest", "name: ../../../../escaped"))
    # `out` four folders down: every place the name could reach lies inside tmp_path (other tests' folders,
    # beside tmp_path under parallel workers, may hold files of that name)
    out = tmp_path / "a" / "b" / "c" / "d" / "out"
    code = main(["run", "--task", "demo", "--methods", "cyclegan", "--schedule", str(schedule),
                 "--out", str(out)])
    assert code == 2 and "cannot be a folder name" in capsys.readouterr().err
    assert not list(tmp_path.rglob("escaped*"))
    with pytest.raises(UsageError):
        RunSpec("demo", "../x", "smoke")
    with pytest.raises(UsageError):
        RunSpec("demo", "cyclegan", "smoke", seed=-1)


def test_temporaries_anywhere_in_the_run_folder_are_removed(run_dir):
    for tmp in (run_dir / ".result.json.abc.tmp", run_dir / "translations" / "A2B" / ".x.png.q.tmp",
                run_dir / "checkpoints" / ".latest.pt.zz.tmp"):
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(b"half")
    (run_dir / ".features.partial").mkdir()
    resume(run_dir)
    assert not [p for p in run_dir.rglob(".*") if p.name.endswith((".tmp", ".partial"))]
