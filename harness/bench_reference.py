"""The reference code's CycleGAN step, re-implemented for `harness bench` (see `harness.bench`).

A minimal, faithful re-implementation of `CycleGANModel.optimize_parameters` of
junyanz/pytorch-CycleGAN-and-pix2pix (`models/cycle_gan_model.py`) and its `ImagePool` and
`GANLoss('lsgan')`: torch only, plain fp32 eager execution.
"""
from __future__ import annotations

import itertools
import random
from typing import Any

import torch
from torch import nn


class ReferenceImagePool:
    """The reference `util/image_pool.py`: python `random` decides, p = 0.5, once full."""

    def __init__(self, pool_size: int, seed: int):
        self.pool_size, self.images, self.rng = pool_size, [], random.Random(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.pool_size == 0:
            return images
        out = []
        for image in images:
            image = torch.unsqueeze(image.data, 0)
            if len(self.images) < self.pool_size:
                self.images.append(image)
                out.append(image)
            elif self.rng.uniform(0, 1) > 0.5:
                idx = self.rng.randint(0, self.pool_size - 1)
                tmp = self.images[idx].clone()
                self.images[idx] = image
                out.append(tmp)
            else:
                out.append(image)
        return torch.cat(out, 0)


class ReferenceLSGANLoss(nn.Module):
    """The reference `GANLoss('lsgan')`: MSE against label buffers expanded to the prediction."""

    def __init__(self):
        super().__init__()
        self.register_buffer("real_label", torch.tensor(1.0))
        self.register_buffer("fake_label", torch.tensor(0.0))
        self.loss = nn.MSELoss()

    def forward(self, prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        target = (self.real_label if target_is_real else self.fake_label).expand_as(prediction)
        return self.loss(prediction, target)


class ReferenceCycleGAN:
    """`CycleGANModel` reduced to `set_input` + `optimize_parameters` (netG_A: A→B, netD_A judges B)."""

    def __init__(self, G_AB: nn.Module, G_BA: nn.Module, D_A: nn.Module, D_B: nn.Module, device: torch.device,
                 lr: float, betas: tuple[float, float], lambda_cycle: float, lambda_identity: float,
                 pool_size: int, seed: int = 0):
        # The reference's netD_A discriminates domain B (fake_B), i.e. the harness's D_B.
        self.netG_A, self.netG_B = G_AB.to(device), G_BA.to(device)
        self.netD_A, self.netD_B = D_B.to(device), D_A.to(device)
        self.device = device
        self.lambda_A = self.lambda_B = lambda_cycle
        self.lambda_idt = lambda_identity
        self.criterionGAN = ReferenceLSGANLoss().to(device)
        self.criterionCycle, self.criterionIdt = nn.L1Loss(), nn.L1Loss()
        self.optimizer_G = torch.optim.Adam(itertools.chain(self.netG_A.parameters(), self.netG_B.parameters()),
                                            lr=lr, betas=betas)
        self.optimizer_D = torch.optim.Adam(itertools.chain(self.netD_A.parameters(), self.netD_B.parameters()),
                                            lr=lr, betas=betas)
        self.fake_A_pool, self.fake_B_pool = ReferenceImagePool(pool_size, seed), ReferenceImagePool(pool_size, seed + 1)

    def set_input(self, batch: dict[str, Any]) -> None:
        self.real_A = batch["A"].to(self.device)
        self.real_B = batch["B"].to(self.device)

    @staticmethod
    def set_requires_grad(nets: list[nn.Module], requires_grad: bool) -> None:
        for net in nets:
            for param in net.parameters():
                param.requires_grad = requires_grad

    def forward(self) -> None:
        self.fake_B = self.netG_A(self.real_A)
        self.rec_A = self.netG_B(self.fake_B)
        self.fake_A = self.netG_B(self.real_B)
        self.rec_B = self.netG_A(self.fake_A)

    def backward_D_basic(self, netD: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        loss_D = (self.criterionGAN(netD(real), True) + self.criterionGAN(netD(fake.detach()), False)) * 0.5
        loss_D.backward()
        return loss_D

    def backward_G(self) -> None:
        if self.lambda_idt > 0:
            self.idt_A = self.netG_A(self.real_B)
            self.loss_idt_A = self.criterionIdt(self.idt_A, self.real_B) * self.lambda_B * self.lambda_idt
            self.idt_B = self.netG_B(self.real_A)
            self.loss_idt_B = self.criterionIdt(self.idt_B, self.real_A) * self.lambda_A * self.lambda_idt
        else:
            self.loss_idt_A = self.loss_idt_B = 0
        self.loss_G_A = self.criterionGAN(self.netD_A(self.fake_B), True)
        self.loss_G_B = self.criterionGAN(self.netD_B(self.fake_A), True)
        self.loss_cycle_A = self.criterionCycle(self.rec_A, self.real_A) * self.lambda_A
        self.loss_cycle_B = self.criterionCycle(self.rec_B, self.real_B) * self.lambda_B
        self.loss_G = (self.loss_G_A + self.loss_G_B + self.loss_cycle_A + self.loss_cycle_B
                       + self.loss_idt_A + self.loss_idt_B)
        self.loss_G.backward()

    def optimize_parameters(self) -> None:
        self.forward()
        self.set_requires_grad([self.netD_A, self.netD_B], False)
        self.optimizer_G.zero_grad()
        self.backward_G()
        self.optimizer_G.step()
        self.set_requires_grad([self.netD_A, self.netD_B], True)
        self.optimizer_D.zero_grad()
        self.loss_D_A = self.backward_D_basic(self.netD_A, self.real_B, self.fake_B_pool.query(self.fake_B))
        self.loss_D_B = self.backward_D_basic(self.netD_B, self.real_A, self.fake_A_pool.query(self.fake_A))
        self.optimizer_D.step()
