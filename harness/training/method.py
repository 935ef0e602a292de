"""The method interface: networks, losses and one training step, nothing else.

A method builds its networks in `__init__` from its config and the run context, makes its
optimizers in `configure_optimizers`, and implements `training_step` (which calls
`self.optimize(name, loss)` for each update, in its own order) and `translate`. The shared
trainer owns data, devices, loops, AMP, checkpoints, logging and progress; a method never
touches files or devices.

To add a method: one file in `methods/` or `baselines/` with a `MethodConfig` subclass for
its hyper-parameters and a `Method` subclass decorated with `@register_method("name")`.
"""
from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Iterator, Literal, Optional

import torch
from torch import nn

if TYPE_CHECKING:  # annotations only: the step runs without the YAML schedule files (GPU check)
    from harness.schedules import Schedule


@dataclass(frozen=True)
class MethodConfig:
    """Fields every method has. `None` means: take the schedule's value (recorded resolved)."""

    gan_loss: Optional[Literal["lsgan", "vanilla", "wgangp"]] = None
    lr: Optional[float] = None
    betas: Optional[tuple[float, ...]] = None
    init_gain: float = 0.02
    # eval: BN running stats and no dropout at test; train: pix2pix-style test-time noise.
    inference_mode: Literal["eval", "train"] = "eval"
    range_checked: ClassVar[bool] = True  # from_dict checks value ranges (harness.safety.values)


@dataclass(frozen=True)
class MethodContext:
    """What a method may know about the run: sizes, setting, schedule. No paths, no devices."""

    image_size: int
    channels: int
    setting: Literal["unsupervised", "supervised"]
    schedule: Schedule
    domains: tuple[str, ...]
    iters_per_epoch: int = 1


class Method(nn.Module):
    """Base class of every registered method (see module docstring)."""

    config_class: ClassVar[type[MethodConfig]] = MethodConfig
    settings: ClassVar[tuple[str, ...]] = ("unsupervised",)
    # Every direction a trained method can translate; supervised methods train one model per direction.
    directions: ClassVar[tuple[str, ...]] = ("A2B", "B2A")

    def __init__(self, config: MethodConfig, context: MethodContext):
        super().__init__()
        self.config = resolve_config(config, context.schedule)
        self.context = context
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.amp_dtype: Optional[torch.dtype] = None  # set by the trainer on CUDA
        self.amp_device_type = "cuda"  # the autocast device (the CPU rehearsal of the CUDA path sets "cpu")
        self.step_count = 0  # the trainer's global iteration, for methods whose losses change over time

    # ---- what a method implements ------------------------------------------------------
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """One iteration on `batch` ({"A", "B", "A_id", "B_id"}); returns named, detached losses."""
        raise NotImplementedError

    def translate(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        """Inference only: images in [-1, 1] of the source domain → translated images in [-1, 1]."""
        raise NotImplementedError

    def visuals(self, images: torch.Tensor, direction: str) -> dict[str, torch.Tensor]:
        """Columns of the sample grid; methods add maps (values in [0, 1]) such as attention."""
        return {"output": self.translate(images, direction)}

    def compile_exclusions(self, channels_last: bool) -> dict[str, str]:
        """Networks (attribute names) that `--compile` must leave eager, each with the reason
        (e.g. a gradient penalty's double backward, which aot_autograd does not support);
        `channels_last`: the networks run in that memory layout."""
        return {}

    def extra_state(self) -> dict[str, Any]:
        """State outside parameters and optimizers (image pools, memories), for checkpoints."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"{type(self).__name__} got extra state it does not know: {sorted(state)}")

    # ---- helpers for methods -----------------------------------------------------------
    def adam(self, params: Iterable[nn.Parameter], lr: Optional[float] = None,
             betas: Optional[tuple[float, ...]] = None, **kwargs: Any) -> torch.optim.Adam:
        """Adam with the resolved lr and betas (method config, else schedule)."""
        b = tuple(betas or self.config.betas)
        return torch.optim.Adam(list(params), lr=lr or self.config.lr, betas=(b[0], b[1]), **kwargs)

    def optimize(self, name: str, loss: torch.Tensor) -> None:
        """Zero the optimizer's grads, back-propagate `loss` and step."""
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """bf16 autocast when the trainer enabled it (CUDA); a no-op on CPU."""
        if self.amp_dtype is None:
            yield
            return
        with torch.autocast(device_type=self.amp_device_type, dtype=self.amp_dtype):
            yield

    @staticmethod
    def set_requires_grad(nets: Iterable[nn.Module], flag: bool) -> None:
        for net in nets:
            for p in net.parameters():
                p.requires_grad_(flag)

    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)


def resolve_config(config: MethodConfig, schedule: Schedule) -> MethodConfig:
    """Fill the schedule-dependent fields a method left as None."""
    return dataclasses.replace(
        config,
        gan_loss=config.gan_loss or schedule.gan_loss,
        lr=config.lr if config.lr is not None else schedule.lr,
        betas=tuple(config.betas if config.betas is not None else schedule.betas),
    )
