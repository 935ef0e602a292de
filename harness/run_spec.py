"""What identifies a run: the task, method, schedule, seed and the options that change its results
(`RunSpec`, saved as run.json and read back by `harness resume`). Its `run_id` names the run folder."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from harness.errors import HarnessError, UsageError
from harness.io import sha256_text
from harness.registry import SCHEDULES
from harness.run_folder import check_name

RUN_SPEC = "run.json"


@dataclass(frozen=True)
class RunSpec:
    task: str
    method: str
    schedule: str = "smoke"
    seed: int = 0
    device: str = "auto"
    data_root: Optional[str] = None
    out: str = "results"
    overrides: dict = field(default_factory=dict)
    # Trainer options that change results (TrainOptions: batch_size, lr_rule); part of the run id.
    train: dict = field(default_factory=dict)
    compile: bool = False  # torch.compile on CUDA: speed only, like `device`
    # Speed options (harness.training.device): recorded in result.json, not part of the run id,
    # since they change timings, not the experiment (results agree to rounding, like devices).
    compile_mode: str = "default"
    fused_adam: bool = False
    memory_format: str = "auto"
    # Data-parallel processes (torchrun); with the batch size it fixes the effective batch, so it
    # is part of the run id (a 2-process run is another experiment than a 1-process one).
    world_size: int = 1
    tensorboard: bool = False  # TensorBoard logging (training/monitor.py): not part of the run id

    def __post_init__(self) -> None:
        check_name(self.task, "task")
        check_name(self.method, "method")
        check_name(self.schedule, "schedule")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise UsageError(f"--seed must be a whole number of at least 0, not {self.seed!r}")

    @property
    def run_id(self) -> str:
        key: Any = sorted(self.overrides.items()) if not self.train else \
            (sorted(self.overrides.items()), sorted(self.train.items()))
        if self.world_size > 1:
            key = (key, ("world_size", self.world_size))
        hashed = self.overrides or self.train or self.world_size > 1
        suffix = f"-{sha256_text(repr(key))[:8]}" if hashed else ""
        return f"{self.schedule}-seed{self.seed}{self.parallel_tag}{suffix}"

    @property
    def parallel_tag(self) -> str:
        """`-ws2-eb2` for data-parallel runs (world size, effective batch); empty for one process."""
        if self.world_size <= 1:
            return ""
        batch = self.train.get("batch_size") or SCHEDULES.get(self.schedule, where="--schedule").batch_size
        return f"-ws{self.world_size}-eb{batch * self.world_size}"

    @property
    def run_dir(self) -> Path:
        return Path(self.out) / self.task / self.method / self.run_id


def speed_options(spec: RunSpec) -> dict[str, Any]:
    return {"compile_mode": spec.compile_mode, "fused_adam": spec.fused_adam, "memory_format": spec.memory_format}


def spec_from_record(data: dict[str, Any], spec_file: Path) -> RunSpec:
    """The RunSpec a run.json records; a hand-edited one that no longer describes a run is one clear error."""
    try:
        return RunSpec(**data)
    except TypeError as exc:  # a key renamed or added by hand
        raise HarnessError(f"{spec_file}: its spec does not describe a run ({exc}); restore the file or start the "
                           "run over with `harness run ... --force`") from None
