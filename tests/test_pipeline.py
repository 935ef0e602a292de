from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from conftest import TINY_CYCLEGAN as TINY, tiny_demo_spec
from harness.cli import main
from harness.errors import HarnessError
from harness.pipeline import RunSpec, execute, resume
from harness.registry import METHODS, SCHEDULES
from harness.results import SCHEMA_VERSION, load_result
from harness.training.method import MethodContext
from harness.training.trainer import Interrupted

# Small networks keep every run here to seconds and its checkpoints small; the pipeline is the same
# at any width. The default (reference-size) CycleGAN is built and stepped once, without a run.


def model_tensors(run_dir):
    return torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)["model"]


def test_default_cyclegan_has_the_reference_networks_and_trains_at_32_px():
    cls = METHODS.get("cyclegan")
    torch.manual_seed(0)
    method = cls(cls.config_class(), MethodContext(32, 3, cls.settings[0], SCHEDULES.get("smoke"), ("A", "B"), 3))
    method.optimizers = method.configure_optimizers()
    assert sum(p.numel() for p in method.G_AB.parameters()) == 11_378_179  # resnet_9blocks, ngf 64
    assert sum(p.numel() for p in method.D_A.parameters()) == 2_764_737  # basic PatchGAN, ndf 64
    before = [p.detach().clone() for p in method.G_AB.parameters()]
    losses = method.training_step({"A": torch.rand(1, 3, 32, 32) * 2 - 1, "B": torch.rand(1, 3, 32, 32) * 2 - 1})
    assert {"G_gan_AB", "G_gan_BA", "G_cycle", "G_identity"} <= set(losses), losses
    assert all(torch.isfinite(torch.as_tensor(v)).all() for v in losses.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, method.G_AB.parameters()))


def test_demo_smoke_run_writes_a_complete_result(tiny_demo_run):
    run_dir = tiny_demo_run.run_dir
    result = load_result(run_dir / "result.json")
    assert result["schema_version"] == SCHEMA_VERSION and result["status"] == "complete"
    assert (result["task"]["name"], result["method"], result["schedule"], result["seed"]) == \
        ("demo", "cyclegan", "smoke", 0)
    assert result["config"]["method"]["lambda_identity"] == 0.5
    assert result["config"]["method"]["gan_loss"] == "lsgan"
    assert result["config"]["method"]["lr"] == 2e-4
    assert result["run"]["steps"] == 9
    assert len(result["data"]["manifest_digest"]) == 64 and len(result["data"]["split_digest"]) == 64
    assert result["environment"]["packages"]["torch"].startswith("2.14")
    assert "commit" in result["environment"]["git"]
    assert result["metrics"]["status"] in ("not_evaluated", "evaluated", "partial")
    for direction in ("A2B", "B2A"):
        pngs = sorted((run_dir / "translations" / direction).glob("*.png"))
        assert len(pngs) == 16 == result["translations"][direction]["n_images"]
        assert Image.open(pngs[0]).size == (32, 32)
        grid = Image.open(run_dir / result["samples"][direction]["file"])
        assert grid.size[0] > 2 * 32 and grid.size[1] > 4 * 32
    losses = [json.loads(line) for line in (run_dir / "losses.jsonl").read_text().splitlines()]
    assert losses[-1]["step"] == 9 and "G_cycle" in losses[-1]


def test_interrupted_run_resumes_to_bit_identical_weights(tmp_path, tiny_demo_run):
    straight = tiny_demo_run.run_dir  # the same run, uninterrupted
    spec = tiny_demo_spec(tmp_path / "b")
    with pytest.raises(Interrupted):
        execute(spec, stop_at_step=5)  # between checkpoints (every 2 steps): step 5 is redone
    assert not (spec.run_dir / "result.json").exists()
    resumed = resume(spec.run_dir)
    assert load_result(resumed / "result.json")["run"]["resumed_from_step"] == 4
    a, b = model_tensors(straight), model_tensors(resumed)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    first = {p.name: p.read_bytes() for p in (straight / "translations" / "A2B").glob("*.png")}
    second = {p.name: p.read_bytes() for p in (resumed / "translations" / "A2B").glob("*.png")}
    assert first == second


def test_complete_run_is_skipped_and_other_config_refused(tmp_path, tiny_demo_run):
    done = tiny_demo_run.run_dir
    stamp = (done / "result.json").stat().st_mtime_ns
    assert execute(tiny_demo_spec(tiny_demo_run.out)) == done
    assert (done / "result.json").stat().st_mtime_ns == stamp  # skipped, not retrained
    spec = RunSpec("demo", "cyclegan", "smoke", seed=0, device="cpu", out=str(tmp_path), overrides=TINY)
    with pytest.raises(Interrupted):
        execute(spec, stop_at_step=2)
    with pytest.raises(HarnessError, match="different run"):
        # Same folder, another run: refuse rather than mix checkpoints.
        spec_file = spec.run_dir / "run.json"
        data = json.loads(spec_file.read_text())
        data["spec"]["overrides"] = {**TINY, "lambda_identity": 0.0}
        spec_file.write_text(json.dumps(data))
        execute(spec)


def test_cli_run_and_unknown_override(tmp_path, capsys):
    code = main(["run", "--task", "demo", "--methods", "cyclegan", "--device", "cpu", "--out", str(tmp_path),
                 "--set", "lambda_identity=0", "--set", "pool_size=0", "--set", "ngf=8", "--set", "ndf=8",
                 "--set", "n_blocks=2", "--discard-checkpoints"])
    assert code == 0
    path = capsys.readouterr().out.strip().splitlines()[-1]
    result = load_result(path)
    assert result["run"]["checkpoint_kept"] is False and len(result["run"]["checkpoint_sha256"]) == 64
    assert not list((tmp_path / "demo" / "cyclegan").glob("*/checkpoints"))
    assert result["config"]["method"]["lambda_identity"] == 0.0 and result["config"]["method"]["pool_size"] == 0
    assert "G_identity" not in result["run"]["last_losses"]
    code = main(["run", "--task", "demo", "--methods", "cyclegan", "--out", str(tmp_path), "--set", "lamda_cycle=3"])
    assert code == 2
    assert "did you mean 'lambda_cycle'" in capsys.readouterr().err
