"""Per-network compile records: a network that reaches the recompile limit is recorded as fallen
back (never silently eager), one whose forward is never called as skipped, an excluded one with
its reason; networks inside ModuleDicts are found."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from harness.training import compile as compile_module
from harness.training.compile import compile_networks, forget_dynamo_sinks, networks_of


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1)

    def forward(self, x):
        return self.conv(x)


class Other(Tiny):
    def forward(self, x):  # its own code: dynamo's messages about Tiny.forward are not about it
        return self.conv(x) * 2


class Parts(nn.Module):
    """No forward of its own: the method calls its parts (as UNIT calls its encoders and decoders)."""

    def __init__(self):
        super().__init__()
        self.enc = Tiny()


class Holder(nn.Module):
    def __init__(self):
        super().__init__()
        self.used = Tiny()
        self.unused = Other()
        self.nested = nn.ModuleDict({"A2B": nn.Conv2d(1, 1, 1)})
        self.critic = Tiny()

    def compile_exclusions(self, channels_last):
        return {"critic": "double backward"}


def test_networks_inside_containers_are_found_and_parameterless_children_left_out():
    holder = Holder()
    holder.add_module("loss", nn.MSELoss())
    holder.add_module("gen", Parts())
    assert [name for name, _ in networks_of(holder)] == ["used", "unused", "nested.A2B", "critic", "gen.enc"]


@pytest.mark.slow
def test_recompile_limit_is_recorded_as_a_fall_back_and_uncalled_networks_as_skipped(monkeypatch):
    torch._dynamo.reset()
    monkeypatch.setattr(compile_module, "RECOMPILE_LIMIT", 1)
    monkeypatch.setattr(torch._dynamo.config, "recompile_limit", 1)
    monkeypatch.setattr(torch._dynamo.config, "suppress_errors", False)
    holder = Holder()
    try:
        report = compile_networks(holder)
        x = torch.ones(1, 1, 4, 4)
        holder.used(x)
        x = torch.ones(2, 1, 4, 4)  # another batch size: a recompile, past the limit of 1
        out = holder.used(x)
        record = report.finalize()
    finally:
        forget_dynamo_sinks()
        torch._dynamo.reset()
    assert torch.allclose(out, holder.used.conv(x))  # it still computes (eagerly)
    assert record["used"].startswith("fell back (hit the recompile limit (1)")
    assert record["unused"].startswith("skipped (its forward was never called")
    assert record["nested.A2B"].startswith("skipped (its forward was never called")
    assert record["critic"] == "skipped (double backward)"
