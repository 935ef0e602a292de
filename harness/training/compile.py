"""`torch.compile` per network, recorded truthfully: `compiled`, `skipped (reason)` or `fell back (reason)`.

What is compiled is each network's forward (generators, discriminators, attention and feature
networks), found inside containers too (`nn.ModuleDict` / `nn.ModuleList` hold the per-direction
networks of the supervised methods; compiling the container itself would compile nothing, since
a container's forward is never called) and inside modules without a forward of their own. The module tree and state_dict keys stay the same, so
checkpoints of compiled and eager runs are interchangeable.

Skipped: networks a method names in `Method.compile_exclusions()` (a gradient penalty that
differentiates a network twice: aot_autograd does not support double backward), and networks
whose forward the method never calls (it calls their parts directly).

Fell back: dynamo's errors are turned into eager fall-backs (`suppress_errors`), so a network
that cannot be compiled trains eagerly instead of ending the run; its warning is captured and
recorded. The recompile limit is raised (train/eval mode and the test-time batch size each add
a guard variant) and reaching it is detected and recorded, never silent.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch
from torch import nn

# Guard variants a network may need: train and eval mode x a few batch sizes (training, test
# batches, the last partial batch, batch-1 grids), with some slack. torch's default is 8.
RECOMPILE_LIMIT = 32
DYNAMO_LOGGERS = ("torch._dynamo", "torch._inductor")


@dataclass
class NetworkCompile:
    """One network's compile record."""

    name: str
    status: str  # "compiled" | "skipped" | "fell back" | "not called"
    reason: str = ""
    calls: int = 0
    code_key: Optional[tuple[str, int]] = None  # where its forward is defined (matches dynamo's messages)

    def record(self) -> str:
        return self.status if not self.reason else f"{self.status} ({self.reason})"


@dataclass
class CompileReport:
    """The compile records of one method's networks, plus the dynamo warnings seen while it ran."""

    mode: str
    networks: dict[str, NetworkCompile] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def finalize(self) -> dict[str, str]:
        """Each network's status as it stands now (after training and translation)."""
        for net in self.networks.values():
            if net.status != "compiled":
                continue
            problem = self._problem_for(net)
            if net.calls == 0:
                net.status, net.reason = "skipped", "its forward was never called (the method calls its parts)"
            elif problem:
                net.status, net.reason = "fell back", problem
        return {name: net.record() for name, net in self.networks.items()}

    def _problem_for(self, net: NetworkCompile) -> str:
        if net.code_key is None:
            return ""
        file, line = net.code_key
        for message in self.warnings:
            if file in message and re.search(rf"\b{line}\b", message):
                if "recompile_limit" in message or "cache_size_limit" in message:
                    return f"hit the recompile limit ({torch._dynamo.config.recompile_limit}); ran eagerly after it"
                lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip()]
                return f"dynamo could not compile it, ran eagerly: {lines[-1][:200]}"
        return ""


class _WarningSink(logging.Handler):
    def __init__(self, report: CompileReport):
        super().__init__(logging.WARNING)
        self.report = report

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.report.warnings.append(record.getMessage())
        except Exception:  # a malformed log record must not break training
            pass


def networks_of(module: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module]]:
    """The networks whose forward a method calls: children with parameters, looking inside containers."""
    found = []
    for name, child in module.named_children():
        if not any(True for _ in child.parameters()):
            continue
        # Containers, and holders without a forward of their own (UNIT's generators: the method
        # calls their encoders and decoders), are looked inside.
        if isinstance(child, (nn.ModuleDict, nn.ModuleList)) or type(child).forward is nn.Module.forward:
            found += networks_of(child, f"{prefix}{name}.")
        else:
            found.append((f"{prefix}{name}", child))
    return found


def compile_networks(method: nn.Module, mode: str = "default", channels_last: bool = False) -> CompileReport:
    """Compile each network's forward in place (an instance attribute: the state_dict is unchanged)."""
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)
    torch._dynamo.config.suppress_errors = True  # a network dynamo cannot compile trains eagerly (recorded)
    report = CompileReport(mode)
    sink = _WarningSink(report)
    for logger in DYNAMO_LOGGERS:
        if not any(isinstance(h, _WarningSink) and h.report is report for h in logging.getLogger(logger).handlers):
            logging.getLogger(logger).addHandler(sink)
    exclusions_of = getattr(method, "compile_exclusions", None)
    exclusions: dict[str, str] = exclusions_of(channels_last) if callable(exclusions_of) else {}
    for name, net in networks_of(method):
        reason = next((why for prefix, why in exclusions.items() if name == prefix or name.startswith(prefix + ".")),
                      None)
        code = getattr(type(net).forward, "__code__", None)
        entry = NetworkCompile(name, "skipped" if reason else "compiled", reason or "",
                               code_key=(code.co_filename, code.co_firstlineno) if code else None)
        report.networks[name] = entry
        if reason is None:
            _compile_forward(net, entry, mode)
    return report


# The backend runs use. Tests that rehearse every method swap in `aot_eager` (dynamo's capture and AOT
# autograd, where graph breaks, recompiles and double-backward refusals arise, without inductor's C++
# code generation, which costs minutes per method on a CPU); one test keeps inductor.
BACKEND = "inductor"


def _compile_forward(net: nn.Module, entry: NetworkCompile, mode: str) -> None:
    if BACKEND == "inductor":
        compiled: Callable[..., Any] = torch.compile(net.forward, mode=None if mode == "default" else mode)
    else:  # modes are inductor options
        compiled = torch.compile(net.forward, backend=BACKEND)

    def forward(*args: Any, **kwargs: Any) -> Any:
        entry.calls += 1
        return compiled(*args, **kwargs)

    net.forward = forward  # instance attribute: nn.Module.__call__ finds it; not part of the state_dict


def forget_dynamo_sinks() -> None:
    """Detach the warning sinks (tests, and a process that runs several methods one after another)."""
    for logger in DYNAMO_LOGGERS:
        for handler in [h for h in logging.getLogger(logger).handlers if isinstance(h, _WarningSink)]:
            logging.getLogger(logger).removeHandler(handler)
