"""CUT and FastCUT: the reference's parameter counts, one step equal to a re-implementation of the
reference's `optimize_parameters`, PatchNCE on known embeddings, the anti-aliased resampling at
32 px, directions, the `original` protocol, and smoke runs with exact resume."""
from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

from harness.errors import UsageError
import torch
from torch import nn

from baselines import cut
from baselines._cut_nets import BlurDownsample, BlurUpsample, CUTGenerator, binomial_filter, sample_patch_ids
from harness.pipeline import RunSpec, execute
from harness.registry import METHODS, SCHEDULES
from harness.results import load_result
from harness.training.method import MethodContext
from harness.training.trainer import Interrupted
from cut_reference import reference_for

# Narrow networks; five residual blocks keep the reference's NCE layer 16 (the fifth block). Not
# narrower: with 4 channels a whole 3×3 window of ReLU outputs is often zero, so is the (bias-free at
# init) conv feature there and its embedding, and the L2 norm's square root has no gradient at zero
# (NaN), in the reference as here.
TINY = {"ngf": 8, "ndf": 8, "n_blocks": 5}



def context(size: int = 32, schedule: str = "smoke") -> MethodContext:
    return MethodContext(size, 3, "unsupervised", SCHEDULES.get(schedule), ("a", "b"), iters_per_epoch=3)


def build(name: str, size: int = 32, schedule: str = "smoke", **overrides):
    cls = METHODS.get(name)
    method = cls(cls.config_class(**overrides), context(size, schedule))
    method.optimizers = method.configure_optimizers()
    return method


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ------------------------------------------------------------------ the reference's networks
@pytest.mark.parametrize("name", ["cut", "fastcut"])
def test_parameter_counts_equal_the_reference_networks(name):
    # Counted from the reference's own classes (define_G resnet_9blocks, define_D basic, define_F
    # mlp_sample after its first forward), default options, 3 channels.
    method = build(name, 256)
    for d in ("A2B", "B2A"):
        assert count(method.G[d]) == 11_378_179
        assert count(method.D[d]) == 2_764_737
        assert count(method.F[d]) == 560_384  # heads on 3, 128, 256, 256, 256 channels
    assert set(method.optimizers) == {"G_A2B", "D_A2B", "F_A2B", "G_B2A", "D_B2A", "F_B2A"}


def test_anti_aliased_resampling_and_nce_features_at_32_px():
    assert torch.allclose(binomial_filter(3, 1)[0, 0], torch.tensor([[1., 2, 1], [2, 4, 2], [1, 2, 1]]) / 16)
    flat = torch.full((1, 2, 8, 8), 0.7)
    assert torch.allclose(BlurDownsample(2)(flat), torch.full((1, 2, 4, 4), 0.7))
    assert torch.allclose(BlurUpsample(2)(flat), torch.full((1, 2, 16, 16), 0.7))
    # Blurring before subsampling removes the highest frequency that a plain stride-2 conv aliases.
    stripes = torch.tensor([1.0, -1.0]).repeat(8).view(1, 1, 1, 16).expand(1, 1, 16, 16)
    assert BlurDownsample(1)(stripes)[..., 1:-1, 1:-1].abs().max() < 1e-6
    g = CUTGenerator(3, 3, 8, 5)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    feats = g.encode(x, [0, 4, 8, 12, 16])
    assert [tuple(f.shape[1:]) for f in feats] == [(3, 38, 38), (16, 32, 32), (32, 16, 16), (32, 8, 8), (32, 8, 8)]
    assert g(x).shape == x.shape
    ids = sample_patch_ids(feats, 256)
    assert [len(i) for i in ids] == [256, 256, 256, 64, 64]  # all 64 positions where a layer has fewer
    assert all(len(set(i.tolist())) == len(i) for i in ids)


def test_patch_nce_on_orthonormal_embeddings():
    # q = k = one-hot rows: the positive logit is 1/T, the P−1 other patches 0, the patch itself is masked.
    p, t = 5, 0.5  # a warm temperature keeps the loss far from float rounding
    q = torch.eye(p)
    loss = cut.patch_nce_loss(q, q.clone(), 1, t)
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + (p - 1) + math.exp(-10 / t)))
    assert torch.allclose(loss, torch.full((p,), expected))
    # Two images of 5 patches: negatives come from the same image only unless grouped as one.
    q2 = torch.eye(10)
    assert torch.allclose(cut.patch_nce_loss(q2, q2, 2, t), torch.full((10,), expected))
    bigger = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 9 + math.exp(-10 / t)))
    assert torch.allclose(cut.patch_nce_loss(q2, q2, 1, t), torch.full((10,), bigger))
    # The key is a constant: gradients reach the query only.
    q, k = torch.randn(6, 4, requires_grad=True), torch.randn(6, 4, requires_grad=True)
    cut.patch_nce_loss(q, k, 2, t).mean().backward()
    assert q.grad is not None and k.grad is None


# ------------------------------------------------------------------ the reference's step
def numpy_seed_whose_first_coin_is(flip: bool) -> int:
    return next(s for s in range(100) if (np.random.RandomState(s).random_sample() < 0.5) == flip)


@pytest.mark.parametrize("name, direction, flip", [("cut", "A2B", False), ("cut", "B2A", False),
                                                   ("fastcut", "A2B", True), ("fastcut", "A2B", False)])
def test_one_step_equals_the_reference_step(name, direction, flip, monkeypatch):
    torch.manual_seed(0)
    method = build(name, directions=direction, ngf=8, ndf=8, n_blocks=5, mlp_channels=32)
    batch = {"A": torch.rand(2, 3, 32, 32) * 2 - 1, "B": torch.rand(2, 3, 32, 32) * 2 - 1}
    reference = reference_for(method, direction, 2)
    before = copy.deepcopy(method.G[direction])
    # Both sides draw the flip and the patch positions from numpy's global generator, in the same order.
    monkeypatch.setattr(cut, "flip_coin", lambda: bool(np.random.random() < 0.5))
    monkeypatch.setattr(cut, "sample_patch_ids", lambda feats, k: sample_patch_ids(
        feats, k, permutation=lambda n: torch.from_numpy(np.random.permutation(n))))
    seed = numpy_seed_whose_first_coin_is(flip)
    np.random.seed(seed)
    losses = method.training_step(batch)
    np.random.seed(seed)
    reference.set_input(batch)
    reference.optimize_parameters()

    expected = {"D_real": reference.loss_D_real, "D_fake": reference.loss_D_fake, "G_GAN": reference.loss_G_GAN,
                "NCE": reference.loss_NCE}
    if method.config.nce_idt:
        expected["NCE_Y"] = reference.loss_NCE_Y
    assert set(losses) == {f"{k}_{direction}" for k in expected}
    for key, value in expected.items():
        assert losses[f"{key}_{direction}"].item() == pytest.approx(value.item(), rel=1e-6, abs=1e-7), key
    pairs = [(method.G[direction], reference.netG), (method.D[direction], reference.netD),
             (method.F[direction].mlps, nn.ModuleList(reference.mlps))]
    # Conv biases before an instance norm have a zero gradient up to rounding, which Adam's first step
    # scales to ±lr: the two steps agree only if they round alike, i.e. compute alike op for op.
    diff = max(float((p - q).detach().abs().max()) for a, b in pairs for p, q in zip(a.parameters(), b.parameters()))
    assert diff < 1e-6
    moved = max(float((p - q).detach().abs().max())
                for p, q in zip(before.parameters(), method.G[direction].parameters()))
    assert moved > 1e-4  # a real step (lr 2e-4), not two untouched copies


# ------------------------------------------------------------------ directions and protocols
def test_a_single_direction_model_refuses_the_other_direction():
    method = build("cut", directions="A2B", **TINY)
    assert method.directions == ("A2B",) and set(method.G) == {"A2B"}
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert method.translate(x, "A2B").shape == x.shape
    with pytest.raises(ValueError, match="directions='A2B'"):
        method.translate(x, "B2A")
    both = build("cut", **TINY)
    shared = {id(p) for p in both.G["A2B"].parameters()} & {id(p) for p in both.G["B2A"].parameters()}
    assert not shared  # two independent models


def test_original_protocol_uses_the_references_split_and_epoch_rule():
    cut_paper = build("cut", 32, "paper", protocol="original", **TINY)
    fast_paper = build("fastcut", 32, "paper", protocol="original", **TINY)
    assert cut_paper.config.lr == fast_paper.config.lr == 2e-4
    assert cut_paper.config.original_constant_epochs == 100  # 200 + 200 on 200 epochs
    assert fast_paper.config.original_constant_epochs == 150  # 150 + 50: the reference's own length
    per_epoch = fast_paper.context.iters_per_epoch

    def factor(method, epoch):
        method.step_count = epoch * per_epoch
        return method.original_lr_factor()

    assert factor(fast_paper, 149) == 1.0
    assert factor(fast_paper, 150) == pytest.approx(1 - 1 / 51)
    assert factor(fast_paper, 199) == pytest.approx(1 / 51)  # the reference never reaches zero
    shared = build("fastcut", 32, "paper", **TINY)
    assert shared.config.protocol == "asgit_shared" and shared.config.original_constant_epochs is None
    with pytest.raises(UsageError, match="nce_layers"):
        build("cut", nce_layers=(0, 40), **TINY)  # the generator has 31 layers
    with pytest.raises(UsageError, match="encoder layer indices below 17"):
        build("cut", nce_layers=(0, 4, 8, 12, 17), **TINY)  # layer 17 is the decoder's first upsampling


# ------------------------------------------------------------------ the pipeline
DOCUMENTED = {"cut": {"lambda_gan": 1.0, "lambda_nce": 1.0, "nce_idt": True, "flip_equivariance": False},
              "fastcut": {"lambda_gan": 1.0, "lambda_nce": 10.0, "nce_idt": False, "flip_equivariance": True}}
COMMON = {"nce_layers": [0, 4, 8, 12, 16], "num_patches": 256, "nce_temperature": 0.07, "gan_loss": "lsgan",
          "nce_negatives_from_batch": False, "antialias": True, "protocol": "asgit_shared", "lr": 2e-4}


def model_tensors(run_dir):
    payload = torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)
    # Plain tensors only, no method extras: the heads are ordinary parameters from the start.
    assert payload["method_extra"] == {} and all(isinstance(v, torch.Tensor) for v in payload["model"].values())
    return payload["model"]


@pytest.mark.parametrize("name, directions", [("cut", "both"), ("fastcut", "B2A")])
def test_smoke_run_result_losses_and_exact_resume(name, directions, tmp_path):
    def spec(out):
        return RunSpec("demo", name, "smoke", seed=1, device="cpu", out=str(out),
                       overrides={**TINY, "directions": directions})

    straight = execute(spec(tmp_path / "a"))
    result = load_result(straight / "result.json")
    wanted = ["A2B", "B2A"] if directions == "both" else [directions]
    assert result["status"] == "complete" and result["run"]["steps"] == 9
    assert sorted(result["translations"]) == wanted and sorted(result["directions"]) == wanted
    config = result["config"]["method"]
    for key, value in {**DOCUMENTED[name], **COMMON, "directions": directions}.items():
        assert config[key] == value, key
    logged = [json.loads(line) for line in (straight / "losses.jsonl").read_text().splitlines()]
    names = {k for row in logged for k in row} - {"step", "epoch"}
    per_direction = ["D_real", "D_fake", "G_GAN", "NCE"] + (["NCE_Y"] if DOCUMENTED[name]["nce_idt"] else [])
    assert names == {f"{n}_{d}" for n in per_direction for d in wanted}

    interrupted = spec(tmp_path / "b")
    with pytest.raises(Interrupted):
        execute(interrupted, stop_at_step=5)
    resumed = execute(interrupted)
    assert load_result(resumed / "result.json")["run"]["resumed_from_step"] == 4
    a, b = model_tensors(straight), model_tensors(resumed)
    assert a.keys() == b.keys() and any(k.startswith("F.") for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key
