"""ASGIT: attention maps, transfer/injection, memory persistence, and every variant end to end (CPU, tiny nets)."""
from __future__ import annotations

import json

import pytest
import torch

from harness.pipeline import RunSpec, execute
from harness.registry import METHODS, SCHEDULES
from harness.training.method import MethodContext
from harness.training.trainer import Interrupted
from methods.asgit.attention import PHADiscriminator, TAMDiscriminator, finish_map, normalise_map
from methods.asgit.memory import AttentionMemory
from methods.asgit.transfer import FixedTransfer, LearnedTransfer, inject, unguided

UNSUPERVISED = ["asgit-pha-rhp", "asgit-pha-alpha", "asgit-tam-rhp", "asgit-tam-alpha"]
SUPERVISED = ["asgit-sup-pha", "asgit-sup-tam"]
TINY_UNSUP = {"ngf": 8, "ndf": 8, "n_blocks": 1}
TINY_SUP = {"ngf": 8, "ndf": 8}



def tiny(name: str) -> dict:
    return dict(TINY_SUP if name in SUPERVISED else TINY_UNSUP)


def make_method(name: str, **overrides):
    cls = METHODS.get(name)
    config = cls.config_class(**{**tiny(name), **overrides})
    setting = cls.settings[0]
    context = MethodContext(32, 3, setting, SCHEDULES.get("smoke"), ("shape", "render"), 3)
    return cls(config, context)


def test_pha_map_shape_range_and_no_gradient():
    torch.manual_seed(0)
    d = PHADiscriminator(3, ndf=8, layer=3)
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    logits, raw = d(x, with_map=True)
    assert logits.shape == (2, 1, 2, 2)
    assert raw.shape == (2, 1, 4, 4)  # stride-8 grid of the third conv block
    assert (raw >= 0).all() and not raw.requires_grad and raw.grad_fn is None
    m = finish_map(raw, 4, "minmax", "sample", 1e-8)
    for sample in m:
        assert sample.min().item() == pytest.approx(0.0) and sample.max().item() == pytest.approx(1.0)
    # The logits still train D; the map is a read-out only.
    logits.mean().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in d.parameters())
    # The fourth block's map is one pixel smaller and is brought to the memory grid.
    _, raw4 = PHADiscriminator(3, ndf=8, layer=4)(x, with_map=True)
    assert raw4.shape == (2, 1, 3, 3) and finish_map(raw4, 4, "minmax", "sample", 1e-8).shape == (2, 1, 4, 4)


def test_minmax_of_a_flat_map_is_zero_not_nan():
    flat = torch.full((2, 1, 4, 4), 0.3)
    out = normalise_map(flat, "minmax", "sample", 1e-8)
    assert torch.isfinite(out).all() and (out == 0).all()
    two = torch.stack([torch.zeros(1, 4, 4), torch.ones(1, 4, 4)])
    assert normalise_map(two, "minmax", "batch", 1e-8)[1].min() == 1.0  # batch scope: global min/max
    assert (normalise_map(two, "minmax", "sample", 1e-8) == 0).all()


def test_tam_map_range_and_gradients_reach_the_branch():
    torch.manual_seed(0)
    d = TAMDiscriminator(3, ndf=8)
    logits, raw = d(torch.randn(2, 3, 32, 32), with_map=True)
    assert logits.shape == (2, 1, 2, 2) and raw.shape == (2, 1, 4, 4)
    assert (raw > 0).all() and (raw < 1).all() and not raw.requires_grad
    logits.mean().backward()
    branch = [p for p in d.mask.parameters() if p.dim() > 1]
    assert branch and all(p.grad is not None and p.grad.abs().sum() > 0 for p in branch)


def test_rhp_with_zero_map_is_the_plain_input_and_alpha_adds_a_channel():
    x = torch.randn(2, 3, 32, 32)
    zeros = FixedTransfer()(torch.zeros(2, 1, 4, 4), 32)
    assert torch.equal(inject(x, zeros, "rhp"), x)
    assert torch.equal(unguided(x, "rhp"), x)
    ones = FixedTransfer()(torch.ones(2, 1, 4, 4), 32)
    assert torch.equal(inject(x, ones, "rhp"), 2 * x)
    alpha = inject(x, ones, "alpha")
    assert alpha.shape == (2, 4, 32, 32) and torch.equal(alpha[:, :3], x) and (alpha[:, 3] == 1).all()
    w = LearnedTransfer()(torch.rand(2, 1, 4, 4), 32)
    assert w.shape == (2, 1, 32, 32) and (w > 0).all() and (w < 1).all()


def test_test_time_placeholder_options():
    x = torch.randn(1, 3, 32, 32)
    paper = make_method("asgit-pha-rhp", transfer_block="fixed", test_placeholder="ones")
    assert torch.allclose(paper.guide(x, paper.placeholder(x), paper.transfer), 2 * x)
    code = make_method("asgit-pha-rhp", transfer_block="fixed", test_placeholder="code")
    assert torch.allclose(code.guide(x, code.placeholder(x), code.transfer), 1.5 * x)
    alpha = make_method("asgit-pha-alpha", test_placeholder="code", transfer_block="fixed")
    assert (alpha.guide(x, alpha.placeholder(x), alpha.transfer)[:, 3] == 1).all()
    assert alpha.G_AB.model[1].in_channels == 4
    # Default "training": G gets D_Y's map of its own first-visit output, as Eq. 1 gives it in training.
    trained = make_method("asgit-pha-rhp").eval()
    with torch.no_grad():
        first = trained.G_AB(trained.guide(x, torch.ones(1, 1, 4, 4), trained.transfer))
        _, raw = trained.D_B(first, with_map=True)
        expected = trained.G_AB(trained.guide(x, finish_map(raw, 4, "minmax", "sample", 1e-8), trained.transfer))
        assert torch.allclose(trained.translate(x, "A2B"), expected)


def test_memory_reads_initial_maps_and_round_trips():
    mem = AttentionMemory(4, "ones")
    assert torch.equal(mem.read("A", ["a", "b"]), torch.ones(2, 1, 4, 4))
    maps = torch.rand(2, 1, 4, 4)
    mem.write("A", ["a", "b"], maps)
    mem.write("B", ["a"], torch.zeros(1, 1, 4, 4))  # same id, other domain: its own slot
    restored = AttentionMemory(4, "ones")
    restored.load_state_dict(mem.state_dict())
    assert restored.stats == mem.stats and mem.stats["writes"] == 3
    assert torch.equal(restored.read("A", ["b", "a"]), maps.flip(0))
    assert torch.equal(restored.read("B", ["a"]), torch.zeros(1, 1, 4, 4))
    noisy = AttentionMemory(4, "uniform")
    first = noisy.read("A", ["x"])
    assert torch.equal(first, noisy.read("A", ["x"])) and not torch.equal(first, noisy.read("A", ["y"]))
    with pytest.raises(ValueError, match="does not match"):
        AttentionMemory(8, "ones").load_state_dict(mem.state_dict())


def _memory_of(run_dir):
    payload = torch.load(run_dir / "checkpoints" / "latest.pt", map_location="cpu", weights_only=True)
    return payload["method_extra"]["memory"]


def test_memory_survives_checkpoint_and_resume(tmp_path):
    name = "asgit-pha-rhp"
    straight = execute(RunSpec("demo", name, "smoke", out=str(tmp_path / "straight"), overrides=tiny(name)))
    spec = RunSpec("demo", name, "smoke", out=str(tmp_path / "resumed"), overrides=tiny(name))
    with pytest.raises(Interrupted):
        execute(spec, stop_at_step=4)
    stored = _memory_of(spec.run_dir)["maps"]
    assert stored["A"] and stored["B"]  # maps were written and checkpointed before the interruption
    resumed = execute(spec)
    assert json.loads((resumed / "result.json").read_text())["run"]["resumed_from_step"] == 4
    assert _memory_of(straight)["stats"] == _memory_of(resumed)["stats"]  # diagnostics counters resume too
    a, b = _memory_of(straight)["maps"], _memory_of(resumed)["maps"]
    assert a.keys() == b.keys()
    for side in a:
        assert a[side].keys() == b[side].keys()
        for key in a[side]:
            # Identical only if the resumed run read the checkpointed maps, not fresh ones.
            assert torch.allclose(a[side][key], b[side][key], atol=1e-6), (side, key)


@pytest.mark.parametrize("name,extra", [(n, {}) for n in UNSUPERVISED + SUPERVISED] + [
    ("asgit-pha-alpha", {"attn_source": "online", "recon_guidance": "online", "test_placeholder": "code",
                         "lambda_identity": 0.5}),
    ("asgit-tam-rhp", {"transfer_block": "learned", "attn_norm": "none", "attn_norm_scope": "batch",
                       "memory_frame": "crop", "test_placeholder": "ones"}),
])
def test_variant_trains_on_demo_and_records_options(tmp_path, name, extra):
    overrides = {**tiny(name), **extra}
    run_dir = execute(RunSpec("demo", name, "smoke", out=str(tmp_path), overrides=overrides))
    result = json.loads((run_dir / "result.json").read_text())
    config = result["config"]["method"]
    for key in ("attention", "injection", "pha_layer", "attn_norm", "attn_norm_scope", "transfer_block",
                "memory_init", "memory_frame", "test_placeholder", "gan_loss"):
        assert key in config, key
    for key, value in extra.items():
        assert config[key] == value
    assert config["attention"] == ("tam" if "tam" in name else "pha")
    if name in SUPERVISED:
        assert result["setting"] == "supervised" and config["lambda_l1"] == 100.0 and config["conditional_d"]
    else:
        assert config["injection"] == ("alpha" if "alpha" in name else "rhp")
        assert "attn_source" in config and "recon_guidance" in config
    assert result["run"]["steps"] == 9 and all(v == v for v in result["run"]["last_losses"].values())
    for direction in ("A2B", "B2A"):
        # demo test pairs are aligned, so the grid ends with the ground truth; maps are also drawn over the output
        assert result["samples"][direction]["columns"] == ["input", "attention", "attention on output", "output",
                                                           "influence_x4", "influence_x4 on output", "ground truth"]
        assert result["translations"][direction]["n_images"] > 0
        assert result["diagnostics"]["directions"][direction]["n_images"] == result["translations"][direction]["n_images"]
    diagnostics = result["diagnostics"]
    assert diagnostics["influence_255"] >= 0 and diagnostics["test_map_spread"] >= 0
    if config.get("attn_source", "memory") == "memory":
        assert 0 <= diagnostics["read_hit_share"] < 1 and diagnostics["memory_reads"] > 0
        if config["attn_norm"] == "minmax":  # stored maps carry spatial information
            assert diagnostics["written_map_spread"] > 0.05
    else:
        assert diagnostics["read_hit_share"] is None


def test_parameter_counts_match_the_reference_networks():
    def count(net):
        return sum(p.numel() for p in net.parameters())
    # asgit_official_code.md: PHA = the basic PatchGAN; TAM without its unused u1 = 3,228,609; g = 75,649.
    assert count(PHADiscriminator(3, 64)) == 2_764_737
    assert count(TAMDiscriminator(3, 64)) == 3_228_609
    assert count(LearnedTransfer()) == 75_649
