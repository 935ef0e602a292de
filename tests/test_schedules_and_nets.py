from __future__ import annotations

import dataclasses

import pytest
import torch

from harness.nets import PatchDiscriminator, ResnetGenerator, UnetGenerator, unet_depth_for
from harness.registry import SCHEDULES


def n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_reference_network_sizes():
    # Parameter counts of the reference code's resnet_9blocks, basic PatchGAN and unet_256.
    assert n_params(ResnetGenerator()) == 11_378_179
    assert n_params(PatchDiscriminator()) == 2_764_737
    assert n_params(UnetGenerator(depth=8)) == 54_413_955
    assert PatchDiscriminator()(torch.zeros(1, 3, 256, 256)).shape == (1, 1, 30, 30)


def test_unet_depth_and_shapes():
    assert [unet_depth_for(s) for s in (32, 128, 256)] == [5, 7, 8]
    with pytest.raises(ValueError):
        unet_depth_for(100)
    assert UnetGenerator(depth=5)(torch.zeros(2, 3, 32, 32)).shape == (2, 3, 32, 32)


def test_paper_schedule_matches_the_protocol():
    paper = SCHEDULES.get("paper")
    assert (paper.epochs_constant, paper.epochs_decay, paper.lr, tuple(paper.betas), paper.batch_size) == \
        (100, 100, 2e-4, (0.5, 0.999), 1)
    assert paper.gan_loss == "lsgan"


def test_linear_decay_rules():
    paper = SCHEDULES.get("paper")
    n = 10
    assert paper.lr_factor(0, 0, n) == 1.0
    assert paper.lr_factor(99, n - 1, n) == 1.0
    assert paper.lr_factor(150, 0, n) == pytest.approx(0.5)
    assert paper.lr_factor(199, n - 1, n) == pytest.approx(1 / (100 * n))  # reaches 0 after the last step
    upstream = dataclasses.replace(paper, lr_decay="upstream_epoch")
    assert upstream.lr_factor(100, 0, n) == pytest.approx(1 - 1 / 101)
    assert upstream.lr_factor(199, 0, n) == pytest.approx(1 / 101)  # the reference code's lr/101 endpoint
