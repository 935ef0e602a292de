"""A minimal re-implementation of the reference CUT step (taesungp/contrastive-unpaired-translation,
`models/cut_model.py`: `set_input`, `forward`, `compute_D_loss`, `compute_G_loss`,
`calculate_NCE_loss`, `optimize_parameters`; `models/networks.py`: `PatchSampleF.forward` and the
generator's `encode_only` pass; `models/patchnce.py`: `PatchNCELoss.forward`), written in the
reference's own order of operations and run on copies of the harness's networks, so that one
step of each can be compared from equal weights. Randomness: numpy's global generator, as there.
"""
from __future__ import annotations

import copy
import itertools
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from harness.bench_reference import ReferenceLSGANLoss


class ReferenceCUT:
    """`CUTModel.set_input` + `optimize_parameters` of the reference (with PatchSampleF.forward,
    PatchNCELoss.forward and the generator's `encode_only` pass), on the given networks."""

    def __init__(self, netG, netD, mlps, opt):
        self.netG, self.netD, self.mlps, self.opt = netG, netD, mlps, opt
        self.nce_layers = list(opt.nce_layers)
        self.criterionGAN = ReferenceLSGANLoss()
        betas = (opt.beta1, opt.beta2)
        self.optimizer_G = torch.optim.Adam(self.netG.parameters(), lr=opt.lr, betas=betas)
        self.optimizer_D = torch.optim.Adam(self.netD.parameters(), lr=opt.lr, betas=betas)
        self.optimizer_F = torch.optim.Adam(itertools.chain(*(m.parameters() for m in mlps)), lr=opt.lr, betas=betas)

    def set_input(self, batch):
        AtoB = self.opt.direction == "AtoB"
        self.real_A, self.real_B = batch["A" if AtoB else "B"], batch["B" if AtoB else "A"]

    def encode_only(self, x, layers):
        feats = []
        for layer_id, layer in enumerate(self.netG.layers):
            x = layer(x)
            if layer_id in layers:
                feats.append(x)
            if layer_id == layers[-1]:
                return feats

    def netF(self, feats, num_patches, patch_ids=None):
        return_ids, return_feats = [], []
        for feat_id, feat in enumerate(feats):
            feat_reshape = feat.permute(0, 2, 3, 1).flatten(1, 2)
            if patch_ids is not None:
                patch_id = patch_ids[feat_id]
            else:
                patch_id = np.random.permutation(feat_reshape.shape[1])
                patch_id = patch_id[:int(min(num_patches, patch_id.shape[0]))]
            patch_id = torch.as_tensor(patch_id, dtype=torch.long)
            x_sample = self.mlps[feat_id](feat_reshape[:, patch_id, :].flatten(0, 1))
            return_ids.append(patch_id)
            norm = x_sample.pow(2).sum(1, keepdim=True).pow(1. / 2)
            return_feats.append(x_sample.div(norm + 1e-7))
        return return_feats, return_ids

    def patchnce(self, feat_q, feat_k):
        num_patches, dim = feat_q.shape
        feat_k = feat_k.detach()
        l_pos = torch.bmm(feat_q.view(num_patches, 1, -1), feat_k.view(num_patches, -1, 1)).view(num_patches, 1)
        batch_dim_for_bmm = 1 if self.opt.nce_includes_all_negatives_from_minibatch else self.opt.batch_size
        feat_q, feat_k = feat_q.view(batch_dim_for_bmm, -1, dim), feat_k.view(batch_dim_for_bmm, -1, dim)
        npatches = feat_q.size(1)
        l_neg_curbatch = torch.bmm(feat_q, feat_k.transpose(2, 1))
        l_neg_curbatch.masked_fill_(torch.eye(npatches, dtype=torch.bool)[None, :, :], -10.0)
        out = torch.cat((l_pos, l_neg_curbatch.view(-1, npatches)), dim=1) / self.opt.nce_T
        return nn.CrossEntropyLoss(reduction="none")(out, torch.zeros(out.size(0), dtype=torch.long))

    def forward(self):
        self.real = torch.cat((self.real_A, self.real_B), dim=0) if self.opt.nce_idt else self.real_A
        if self.opt.flip_equivariance:
            self.flipped_for_equivariance = np.random.random() < 0.5
            if self.flipped_for_equivariance:
                self.real = torch.flip(self.real, [3])
        self.fake = self.netG(self.real)
        self.fake_B = self.fake[:self.real_A.size(0)]
        if self.opt.nce_idt:
            self.idt_B = self.fake[self.real_A.size(0):]

    def compute_D_loss(self):
        self.loss_D_fake = self.criterionGAN(self.netD(self.fake_B.detach()), False).mean()
        self.loss_D_real = self.criterionGAN(self.netD(self.real_B), True).mean()
        return (self.loss_D_fake + self.loss_D_real) * 0.5

    def calculate_NCE_loss(self, src, tgt):
        feat_q = self.encode_only(tgt, self.nce_layers)
        if self.opt.flip_equivariance and self.flipped_for_equivariance:
            feat_q = [torch.flip(fq, [3]) for fq in feat_q]
        feat_k = self.encode_only(src, self.nce_layers)
        feat_k_pool, sample_ids = self.netF(feat_k, self.opt.num_patches, None)
        feat_q_pool, _ = self.netF(feat_q, self.opt.num_patches, sample_ids)
        total_nce_loss = 0.0
        for f_q, f_k in zip(feat_q_pool, feat_k_pool):
            total_nce_loss += (self.patchnce(f_q, f_k) * self.opt.lambda_NCE).mean()
        return total_nce_loss / len(self.nce_layers)

    def compute_G_loss(self):
        self.loss_G_GAN = self.criterionGAN(self.netD(self.fake_B), True).mean() * self.opt.lambda_GAN
        self.loss_NCE = self.calculate_NCE_loss(self.real_A, self.fake_B)
        if self.opt.nce_idt:
            self.loss_NCE_Y = self.calculate_NCE_loss(self.real_B, self.idt_B)
            return self.loss_G_GAN + (self.loss_NCE + self.loss_NCE_Y) * 0.5
        return self.loss_G_GAN + self.loss_NCE

    def optimize_parameters(self):
        self.forward()
        for p in self.netD.parameters():
            p.requires_grad = True
        self.optimizer_D.zero_grad()
        self.loss_D = self.compute_D_loss()
        self.loss_D.backward()
        self.optimizer_D.step()
        for p in self.netD.parameters():
            p.requires_grad = False
        self.optimizer_G.zero_grad()
        self.optimizer_F.zero_grad()
        self.loss_G = self.compute_G_loss()
        self.loss_G.backward()
        self.optimizer_G.step()
        self.optimizer_F.step()


def reference_for(method, d: str, batch_size: int) -> ReferenceCUT:
    c = method.config
    opt = SimpleNamespace(direction="AtoB" if d == "A2B" else "BtoA", nce_layers=c.nce_layers, lambda_GAN=c.lambda_gan,
                          lambda_NCE=c.lambda_nce, nce_idt=c.nce_idt, flip_equivariance=c.flip_equivariance,
                          num_patches=c.num_patches, nce_T=c.nce_temperature, batch_size=batch_size,
                          nce_includes_all_negatives_from_minibatch=c.nce_negatives_from_batch,
                          lr=c.lr, beta1=c.betas[0], beta2=c.betas[1])
    return ReferenceCUT(copy.deepcopy(method.G[d]), copy.deepcopy(method.D[d]),
                        copy.deepcopy(list(method.F[d].mlps)), opt)
