"""The `real-vs-real` reference row: one half of the real target test set against the other half.

Evaluated like a method, so every table has a ceiling next to `identity`'s floor. Per direction
the "generated" set is the even-indexed half of the real target test images and the reference
is the odd-indexed half (fused-KID: plus all real source test images). Its features are slices
of the cached full-set features. The FCN-score families score all real target photos (the
segmenter ceiling). The row is written as a result file under `<out>/<task>/real-vs-real/`.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional

import torch

from harness.data.prepare import prepare_data
from harness.evaluation.context import PROTOCOL, EvalContext, EvalOptions
from harness.evaluation.images import ImageSet
from harness.registry import METRICS, SCHEDULES, TASKS
from harness.results import SCHEMA_VERSION, environment, now_iso, write_result

ROW_NAME = "real-vs-real"
KID_FAMILIES = ("target_kid", "fused_kid")


class RealVsRealContext(EvalContext):
    """An evaluation context whose 'translations' of a direction are real target images."""

    def __init__(self, *args: Any, direction: str, half: bool, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.direction, self.half = direction, half
        self._halves: dict[int, tuple[ImageSet, list[int]]] = {}

    def _split(self, side: str, parity: int) -> ImageSet:
        full = super().real(side)
        index = list(range(parity, len(full), 2))
        part = full.subset([full.ids[i] for i in index], f"{full.name} half {parity}")
        self._halves[id(part)] = (full, index)
        return part

    def generated(self, direction: str) -> ImageSet:
        target = direction[-1]
        if not self.half:
            return super().real(target)
        key = f"half0-{target}"
        if key not in self._sets:
            self._sets[key] = self._split(target, 0)
        return self._sets[key]

    def real(self, side: str) -> ImageSet:
        if self.half and side == self.direction[-1]:
            key = f"half1-{side}"
            if key not in self._sets:
                self._sets[key] = self._split(side, 1)
            return self._sets[key]
        return super().real(side)

    def features(self, images: ImageSet) -> torch.Tensor:
        if id(images) in self._halves:
            full, index = self._halves[id(images)]
            return super().features(full)[index]
        return super().features(images)


def evaluate_real_vs_real(task_name: str, options: EvalOptions, schedule: str = "paper",
                          data_root: Optional[str] = None) -> dict[str, Any]:
    """The result dict of the real-vs-real row of a task at a schedule's test size."""
    from harness.evaluation import _status
    task = TASKS.get(task_name, where="--task")
    sched = SCHEDULES.get(schedule, where="--schedule")
    prepared = prepare_data(task, data_root, for_evaluation=True)
    setting = task.settings[0]
    image = task.image_spec(setting, sched.image_size)
    families = options.metrics if options.metrics is not None else tuple(task.metrics)
    directions: dict[str, dict[str, Any]] = {}
    ceilings: dict[str, Any] = {}
    for direction in ("A2B", "B2A"):
        entries: dict[str, Any] = {}
        for family in families:
            ctx = RealVsRealContext(options, task, prepared, image, None, direction=direction,
                                    half=family in KID_FAMILIES)
            entries.update(METRICS.get(family, where=f"metrics of task {task.name!r}")(ctx, direction))
            ceilings.update(ctx.ceilings)
        directions[direction] = entries
    status = _status(directions)
    metrics: dict[str, Any] = {"status": status, "protocol": PROTOCOL, "evaluated_at": now_iso(),
                               "options": options.record(), "directions": directions,
                               "reference_row": "even-indexed half of the real target test set vs the odd half"}
    if ceilings:
        metrics["ceilings"] = ceilings
    if status != "evaluated":
        metrics["reason"] = "; ".join(sorted({e["reason"] for d in directions.values() for e in d.values()
                                              if e.get("status") != "ok"}))
    return {
        "schema_version": SCHEMA_VERSION, "status": "complete", "created_at": now_iso(),
        "task": {"name": task.name, "version": task.version, "domains": list(task.domains)},
        "method": ROW_NAME, "reference_row": True, "setting": setting, "schedule": schedule, "seed": 0,
        "directions": {d: task.direction_name(d) for d in ("A2B", "B2A")}, "metrics": metrics,
        "config": {"image": dataclasses.asdict(image), "task": dataclasses.asdict(task)},
        "environment": environment(), "data": prepared.record(), "run": {"run_id": f"{schedule}-seed0", "steps": 0},
    }


def write_real_vs_real(task_name: str, out: str, options: EvalOptions, data_root: Optional[str] = None,
                       schedule: str = "paper") -> Path:
    result = evaluate_real_vs_real(task_name, options, schedule, data_root)
    run_dir = Path(out) / task_name / ROW_NAME / f"{schedule}-seed0"
    return write_result(run_dir, result)
