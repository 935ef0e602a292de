"""Training schedules as data: one YAML file per schedule in this folder.

A schedule is the optimisation protocol shared by every method in a comparison: epochs,
learning-rate rule, optimiser defaults, batch size and (for quick runs) an image-size
override. Loss weights belong to the methods, not here.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import ClassVar, Literal, Optional

from harness.config import from_dict, load_yaml
from harness.errors import UsageError
from harness.registry import SCHEDULES


# The name, the batch size (part of data-parallel run ids) and the nesting itself stay one per schedule.
UNSETTABLE_PER_SETTING = {"name", "description", "batch_size", "per_setting", "per_method"}


@dataclass(frozen=True)
class Schedule:
    name: str
    description: str
    epochs_constant: int
    epochs_decay: int
    # linear_to_zero: per-iteration linear decay that reaches 0 at the last step (the paper's words);
    # upstream_epoch: the CycleGAN code's per-epoch rule, which ends at lr/(epochs_decay+1).
    lr_decay: Literal["linear_to_zero", "upstream_epoch"] = "linear_to_zero"
    lr: float = 2e-4
    betas: tuple[float, ...] = (0.5, 0.999)
    batch_size: int = 1
    gan_loss: Literal["lsgan", "vanilla"] = "lsgan"
    max_iters_per_epoch: Optional[int] = None
    image_size: Optional[int] = None
    checkpoint_every: int = 1000
    log_every: int = 100
    sample_count: int = 4
    # False: checkpoint only every `checkpoint_every` steps and at the last step, not at every
    # epoch end (short runs, e.g. the demo, whose checkpoints are not kept).
    checkpoint_epoch_ends: bool = True
    # Method config values for every method whose config has a field of that name (e.g. narrower
    # networks for the demo); `--set` still wins; each result records its config resolved.
    method_defaults: dict = field(default_factory=dict, hash=False)  # compared, not hashed (a dict)
    # Per-setting values of the fields above, e.g. {unsupervised: {epochs_constant: 4}}: a setting whose
    # methods need more steps than the other's (the demo). Applied by `for_run` before a run starts;
    # each result records the schedule resolved for its setting (this dict included).
    per_setting: dict = field(default_factory=dict, hash=False)
    # Per-method values of the same fields, applied after `per_setting`, e.g. {cut: {epochs_constant: 4}}:
    # a method whose own reference recipe trains longer than the others' (CUT: 400 epochs where CycleGAN's
    # trains 200). Each result records the schedule resolved for its run; tables whose rows trained
    # different numbers of steps say so in a note.
    per_method: dict = field(default_factory=dict, hash=False)
    range_checked: ClassVar[bool] = True  # from_dict checks value ranges (harness.safety.values)

    def __post_init__(self) -> None:
        names = {f.name for f in fields(self)} - UNSETTABLE_PER_SETTING
        for setting in self.per_setting:
            if setting not in ("unsupervised", "supervised"):
                raise UsageError(f"schedule {self.name}: per_setting: {setting!r} is no setting "
                                 "(unsupervised, supervised)")
        for block, table in (("per_setting", self.per_setting), ("per_method", self.per_method)):
            for key, values in table.items():
                if values is not None and not isinstance(values, dict):
                    raise UsageError(f"schedule {self.name}: {block}.{key} must be a mapping of schedule fields")
                unknown = sorted(set(values or {}) - names)
                if unknown:
                    raise UsageError(f"schedule {self.name}: {block}.{key}: {', '.join(unknown)} cannot differ "
                                     f"there (allowed: {', '.join(sorted(names))})")
        self._check_resolved()

    def _check_resolved(self) -> None:
        """Every schedule `for_run` can resolve gets the types and ranges of a schedule file (including rules
        across fields, e.g. at least one epoch), when this one is read rather than when a run starts."""
        base = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("per_setting", "per_method")}
        for setting in ("supervised", "unsupervised"):
            for method in (None, *self.per_method):
                used = [(label, values) for label, values in
                        ((f"per_setting.{setting}", self.per_setting.get(setting)),
                         (f"per_method.{method}", None if method is None else self.per_method[method])) if values]
                if used:
                    merged = {k: v for _, values in used for k, v in values.items()}
                    from_dict(Schedule, {**base, **merged},
                              where=f"schedule {self.name}: {' + '.join(label for label, _ in used)}")

    def for_run(self, setting: str, method: str) -> "Schedule":
        """The schedule one run trains with: `per_setting` values for its setting, then `per_method` ones for
        its method (registered name)."""
        values = {**(self.per_setting.get(setting) or {}), **(self.per_method.get(method) or {})}
        return replace(self, **values) if values else self

    def unknown_methods(self, known: list[str]) -> list[str]:
        """`per_method` keys that name no method in `known` (checked where the registry is loaded)."""
        known = set(known)
        return sorted({str(name) for name in self.per_method if name not in known})

    def defaults_for(self, config_class: type) -> dict:
        """The `method_defaults` that name fields of `config_class`."""
        names = {f.name for f in fields(config_class)}
        return {k: v for k, v in self.method_defaults.items() if k in names}

    @property
    def epochs(self) -> int:
        return self.epochs_constant + self.epochs_decay

    def lr_factor(self, epoch: int, iteration: int, iters_per_epoch: int) -> float:
        """Multiplier of the base learning rate at (0-based) `epoch`, `iteration` within it."""
        if self.lr_decay == "upstream_epoch":
            return 1.0 - max(0, epoch + 1 - self.epochs_constant) / (self.epochs_decay + 1)
        decay_steps = self.epochs_decay * iters_per_epoch
        if decay_steps == 0:
            return 1.0
        done = (epoch - self.epochs_constant) * iters_per_epoch + iteration
        return max(0.0, 1.0 - max(0, done) / decay_steps)


def load_schedule_file(path: Path) -> Schedule:
    return from_dict(Schedule, load_yaml(path), where=str(path))


for _path in sorted(Path(__file__).parent.glob("*.yaml")):
    _schedule = load_schedule_file(_path)
    SCHEDULES.register(_schedule.name, _schedule, description=_schedule.description)
