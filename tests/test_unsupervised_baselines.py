"""UNIT, StarGAN and AGGAN on the shared pipeline: smoke training on demo, results, resume,
documented loss names and weights, StarGAN's gradient penalty and n_critic, AGGAN's stages."""
from __future__ import annotations

import json

import pytest
import torch

from baselines import aggan, stargan, unit
from baselines._stargan_nets import gradient_penalty
from harness.pipeline import RunSpec, execute
from harness.registry import SCHEDULES
from harness.results import load_result
from harness.training.method import MethodContext
from harness.training.trainer import Interrupted

# Narrow networks keep each smoke run to seconds; the architecture and losses are unchanged.
TINY = {"unit": {"gen_dim": 8, "dis_dim": 8}, "stargan": {"g_conv_dim": 8, "d_conv_dim": 8},
        "aggan": {"ngf": 8, "ndf": 8}}
LOSS_NAMES = {"unit": unit.LOSS_NAMES, "stargan": stargan.LOSS_NAMES, "aggan": aggan.LOSS_NAMES}
DOCUMENTED = {  # baselines_and_metrics.md §0, §3-§5
    "unit": {"gan_w": 1.0, "recon_x_w": 10.0, "recon_kl_w": 0.01, "recon_x_cyc_w": 10.0, "recon_kl_cyc_w": 0.01,
             "weight_decay": 1e-4, "gan_loss": "lsgan", "shared_blocks": 1},
    "stargan": {"lambda_cls": 1.0, "lambda_rec": 10.0, "lambda_gp": 10.0, "n_critic": 5, "gan_loss": "wgangp",
                "two_domain_targets": "permute"},
    "aggan": {"lambda_cycle": 10.0, "threshold": 0.1, "pool_size": 50, "gan_loss": "lsgan", "attn_tail_kernel": 1,
              "stage_switch_epoch": 1},  # round(0.3 × 3 smoke epochs)
}

# Checkpoints fall every 2 steps and at each epoch end (3 steps). UNIT and StarGAN stop between
# checkpoints (step 5 is redone; StarGAN's first G step is step 5); AGGAN resumes before its
# stage switch at step 3.
STOP_AT = {"unit": 5, "stargan": 5, "aggan": 2}
RESUMED_FROM = {"unit": 4, "stargan": 4, "aggan": 2}



def spec(method: str, out, **extra) -> RunSpec:
    return RunSpec("demo", method, "smoke", seed=1, device="cpu", out=str(out), overrides={**TINY[method], **extra})


def model_tensors(run_dir):
    return torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)["model"]


@pytest.mark.parametrize("method", ["unit", "stargan", "aggan"])
def test_smoke_run_result_losses_and_resume(method, tmp_path):
    straight = execute(spec(method, tmp_path / "a"))
    result = load_result(straight / "result.json")
    assert result["status"] == "complete" and result["run"]["steps"] == 9
    assert result["translations"]["A2B"]["n_images"] == 16 == result["translations"]["B2A"]["n_images"]
    config = result["config"]["method"]
    for key, value in DOCUMENTED[method].items():
        assert config[key] == value, key
    assert config["protocol"] == "asgit_shared" and config["lr"] == 2e-4
    logged = [json.loads(line) for line in (straight / "losses.jsonl").read_text().splitlines()]
    names = {k for row in logged for k in row} - {"step", "epoch"}
    assert names == set(LOSS_NAMES[method])

    interrupted = spec(method, tmp_path / "b")
    with pytest.raises(Interrupted):
        execute(interrupted, stop_at_step=STOP_AT[method])
    resumed = execute(interrupted)
    assert load_result(resumed / "result.json")["run"]["resumed_from_step"] == RESUMED_FROM[method]
    a, b = model_tensors(straight), model_tensors(resumed)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_gradient_penalty_on_known_critics():
    # Linear critic D(x) = <w, x>: ∇D = w for every sample, so GP = (‖w‖ − 1)².
    w = torch.tensor([[[[3.0, 0.0], [0.0, 4.0]]]], requires_grad=True)  # ‖w‖ = 5
    x = torch.randn(3, 1, 2, 2, requires_grad=True)
    gp = gradient_penalty((x * w).flatten(1).sum(1), x)
    assert gp.item() == pytest.approx(16.0)
    # The penalty back-propagates into the critic: d/dw (‖w‖ − 1)² = 2(‖w‖ − 1)·w/‖w‖.
    gp.backward()
    assert torch.allclose(w.grad, 2 * 4 * w.detach() / 5)
    # Quadratic critic D(x) = ½‖x‖²: ∇D = x, so GP = mean((‖x_i‖ − 1)²) over samples.
    x = torch.tensor([[3.0, 4.0], [0.0, 1.0], [1.0, 0.0]]).view(3, 1, 1, 2).requires_grad_(True)
    gp = gradient_penalty(0.5 * (x ** 2).flatten(1).sum(1, keepdim=True), x)
    assert gp.item() == pytest.approx((16 + 0 + 0) / 3)


def test_stargan_updates_the_generator_every_n_critic_steps(tmp_path):
    run = execute(spec("stargan", tmp_path, n_critic=2))
    logged = [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]
    # Smoke logs every step; generator losses appear only on generator steps 2, 4, 6, 8.
    assert [row["step"] for row in logged if "G_rec" in row] == [2, 4, 6, 8]
    assert all("D_gp" in row for row in logged)
    d_gp = [row["D_gp"] for row in logged]
    assert len(set(d_gp)) == len(d_gp)  # the critic trains every step


def context(size: int = 32) -> MethodContext:
    return MethodContext(size, 3, "unsupervised", SCHEDULES.get("smoke"), ("a", "b"), iters_per_epoch=3)


def test_original_protocol_uses_each_methods_own_recipe():
    assert unit.UNIT(unit.UNITConfig(protocol="original", **TINY["unit"]), context()).config.lr == 1e-4
    assert stargan.StarGAN(stargan.StarGANConfig(protocol="original", **TINY["stargan"]), context()).config.lr == 1e-4
    method = aggan.AGGAN(aggan.AGGANConfig(protocol="original", **TINY["aggan"]), context())
    assert (method.config.lr, method.config.stage_switch_epoch) == (1e-4, 30)
    # The reference sizes: 3 discriminator scales and 6 StarGAN D layers at 256 px.
    assert unit.UNIT(unit.UNITConfig(**TINY["unit"]), context(256)).config.dis_num_scales == 3
    assert stargan.StarGAN(stargan.StarGANConfig(**TINY["stargan"]), context(256)).config.d_repeat_num == 6


def test_aggan_second_stage_freezes_attention_and_masks_the_discriminator():
    torch.manual_seed(0)
    method = aggan.AGGAN(aggan.AGGANConfig(**TINY["aggan"]), context())
    method.optimizers = method.configure_optimizers()
    batch = {"A": torch.rand(1, 3, 32, 32) * 2 - 1, "B": torch.rand(1, 3, 32, 32) * 2 - 1}
    method.step_count = 3  # epoch 1 = stage_switch_epoch under the smoke schedule
    att = [p.detach().clone() for p in method.att_A.parameters()]
    gen = [p.detach().clone() for p in method.G_A.parameters()]
    method.training_step(batch)
    assert all(torch.equal(a, p) for a, p in zip(att, method.att_A.parameters()))
    assert not all(torch.equal(g, p) for g, p in zip(gen, method.G_A.parameters()))
    assert method.D_A.donorm is False
    # The discriminator sees only pixels whose attention reaches the threshold.
    dis, x = method.D_A, torch.rand(1, 3, 32, 32)
    low = torch.full((1, 1, 32, 32), 0.05)
    assert torch.equal(dis(x, low, 0.1), dis(torch.zeros_like(x), low, 0.1))
    assert not torch.equal(dis(x, low, 0.0), dis(torch.zeros_like(x), low, 0.0))
    # In the first stage the attention net trains with its generator.
    method.step_count = 0
    method.training_step(batch)
    assert not all(torch.equal(a, p) for a, p in zip(att, method.att_A.parameters()))


def test_unit_shares_latent_blocks_between_domains():
    shared = unit.UNIT(unit.UNITConfig(**TINY["unit"]), context())
    untied = unit.UNIT(unit.UNITConfig(shared_blocks=0, **TINY["unit"]), context())
    assert len(shared.gen.enc_shared) == 1 and len(untied.gen.enc_shared) == 0
    n_shared = sum(p.numel() for p in shared.gen.parameters())
    n_untied = sum(p.numel() for p in untied.gen.parameters())
    block = sum(p.numel() for p in shared.gen.enc_shared.parameters())
    assert n_untied - n_shared == 2 * block  # one encoder and one decoder block fewer
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert shared.translate(x, "A2B").shape == x.shape and shared.translate(x, "B2A").shape == x.shape
