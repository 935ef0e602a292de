"""Data-parallel training across processes (`torchrun --nproc-per-node N -m harness run ...`).

Design: methods own several networks and several optimizers and call `self.optimize(name, loss)`
in their own order, often with some networks frozen for an update (CycleGAN freezes its
discriminators during the generator step) and a network run several times per step. Wrapping
each sub-network in `DistributedDataParallel` fits that badly (DDP expects one forward and one
backward per wrapped module per step, and frozen parameters break its reducer), and it changes
the `state_dict` keys of every method. Instead the trainer installs a *step pre-hook* on every
optimizer: just before `optimizer.step()`, the gradients of that optimizer's parameters are
averaged over all ranks (one flattened all-reduce per optimizer). That is exactly what DDP
computes (the mean of per-rank gradients), works for any update order, needs no change to any
method, and keeps checkpoints identical in layout to single-process ones.

Other rules: every rank starts from rank 0's parameters and buffers (broadcast once); float
buffers (BatchNorm running statistics) are averaged before each checkpoint and at the end;
rank 0 alone writes files, and other ranks wait at a barrier; each rank gets its own shard of
each epoch's items (so its own augmentation seeds) and its own torch random stream.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = DistInfo()


def requested_world_size() -> int:
    """The number of processes torchrun started (WORLD_SIZE), known before joining the group."""
    return max(1, int(os.environ.get("WORLD_SIZE", "1") or 1))


def requested_main() -> bool:
    """Whether this process will be rank 0 (RANK from torchrun), known before joining the group."""
    return int(os.environ.get("RANK", "0") or 0) == 0 or requested_world_size() == 1


def from_environment(use_cuda: bool) -> DistInfo:
    """Join the process group torchrun describes in the environment (WORLD_SIZE, RANK, ...)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    backend = os.environ.get("HARNESS_DIST_BACKEND") or ("nccl" if use_cuda else "gloo")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), backend)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def broadcast_state(module: nn.Module) -> None:
    """Make every rank hold rank 0's parameters and buffers (same init, whatever each rank drew)."""
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=0)


def average_float_buffers(module: nn.Module) -> None:
    """Average floating buffers (e.g. BatchNorm running statistics) so checkpoints agree on every rank."""
    buffers = [b for b in module.buffers() if b.is_floating_point()]
    if not buffers:
        return
    with torch.no_grad():
        flat = torch.cat([b.reshape(-1) for b in buffers])
        dist.all_reduce(flat)
        flat /= dist.get_world_size()
        offset = 0
        for b in buffers:
            b.copy_(flat[offset:offset + b.numel()].view_as(b))
            offset += b.numel()


def install_gradient_averaging(optimizers: dict[str, torch.optim.Optimizer]) -> list[Any]:
    """Before each optimizer step, replace every parameter's gradient by its mean over all ranks."""
    handles = []
    for opt in optimizers.values():
        handles.append(opt.register_step_pre_hook(_average_gradients_hook))
    return handles


def _average_gradients_hook(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    params = [p for group in optimizer.param_groups for p in group["params"] if p.requires_grad]
    world = dist.get_world_size()
    # A parameter that got no gradient on this rank must still take part (with zeros): all ranks
    # must reduce the same list, in the same order, or the collective would mismatch.
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for p in params:
        n = p.numel()
        # Parameters without a gradient keep none (Adam then skips them, as in one process).
        if p.grad is not None:
            p.grad.copy_(flat[offset:offset + n].view_as(p.grad))
        offset += n


def weights_digest(module: nn.Module) -> str:
    """sha256 over every parameter and buffer, in state_dict order (bit-exact comparison)."""
    return state_digest(module.state_dict())


def state_digest(state: dict[str, torch.Tensor]) -> str:
    """`weights_digest` of a saved state_dict (e.g. a checkpoint's "model")."""
    digest = hashlib.sha256()
    for name, tensor in state.items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def gather_strings(info: DistInfo, value: str) -> list[str]:
    if not info.enabled:
        return [value]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, value)
    return [str(v) for v in out]


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
