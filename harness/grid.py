"""Experiment grids: tasks x methods x seeds (one schedule) as `RunSpec`s, run here or on Slurm.

Locally the runs go one after another through `harness.pipeline.execute`, which skips runs that
have a result and resumes runs with a checkpoint, so re-running a grid command continues where
it stopped. On a cluster the pending runs are submitted as one Slurm job array through
submitit; each array task calls the same `execute`, so a re-submitted grid also skips and
resumes. No scheduling logic lives here beyond that.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

from harness.errors import HarnessError, UsageError
from harness.registry import METHODS, SCHEDULES, TASKS
from harness.results import RESULT_NAME

log = logging.getLogger("harness.grid")


@dataclass(frozen=True)
class GridRun:
    spec: Any  # harness.pipeline.RunSpec
    state: str  # "complete" | "interrupted" | "new"


def expand(tasks: Iterable[str], methods: Iterable[str], seeds: Iterable[int], schedule: str = "smoke",
           **spec_fields: Any) -> list[Any]:
    """Every (task, method, seed) whose method fits the task's setting, as RunSpecs, in that order.

    `methods` may contain "all" (every method that fits each task). An explicitly named method that
    fits no task of the grid is an error; one that fits only some tasks is skipped for the others.
    """
    from harness.pipeline import RunSpec, methods_for_task, setting_for
    tasks, methods, seeds = list(dict.fromkeys(tasks)), list(dict.fromkeys(methods)), list(dict.fromkeys(seeds))
    if not tasks or not methods or not seeds:
        raise UsageError("a grid needs at least one task, one method and one seed")
    SCHEDULES.get(schedule, where="--schedule")
    specs, used = [], set()
    for task_name in tasks:
        task = TASKS.get(task_name, where="--tasks")
        names = []
        for m in methods:
            names += methods_for_task(task) if m == "all" else [m]
        for name in dict.fromkeys(names):
            cls = METHODS.get(name, where="--methods")
            try:
                setting_for(cls, task)
            except UsageError:
                log.info("grid: %s does not fit %s (%s); skipped", name, task_name, "/".join(cls.settings))
                continue
            used.add(name)
            specs += [RunSpec(task_name, name, schedule, seed, **spec_fields) for seed in seeds]
    unused = [m for m in methods if m != "all" and m not in used]
    if unused:
        raise UsageError(f"method(s) {', '.join(unused)} fit none of the tasks {', '.join(tasks)}")
    return specs


def state_of(spec: Any) -> str:
    """complete (has a result), interrupted (has a run folder to resume) or new."""
    run_dir = Path(spec.run_dir)
    if (run_dir / RESULT_NAME).exists():
        return "complete"
    return "interrupted" if (run_dir / "run.json").exists() else "new"


def plan(specs: Iterable[Any]) -> list[GridRun]:
    return [GridRun(spec, state_of(spec)) for spec in specs]


def run_local(specs: Iterable[Any], keep_going: bool = True) -> list[dict[str, Any]]:
    """Execute the runs one after another; complete ones are skipped, interrupted ones resumed."""
    from harness.pipeline import execute
    report = []
    for item in plan(specs):
        entry = {"run_dir": str(item.spec.run_dir), "before": item.state}
        if item.state == "complete":
            entry["outcome"] = "skipped"
        else:
            try:
                execute(item.spec)
                entry["outcome"] = "resumed" if item.state == "interrupted" else "trained"
            except UsageError:
                raise
            except HarnessError as exc:
                if not keep_going:
                    raise
                log.error("%s failed: %s", item.spec.run_dir, exc)
                entry.update(outcome="failed", error=str(exc))
        report.append(entry)
    return report


def execute_spec(spec: Any) -> str:
    """What one array task runs (importable, so submitit can pickle it)."""
    from harness.pipeline import execute
    return str(execute(spec))


def submit(specs: Iterable[Any], folder: Path, cluster: Optional[str] = "slurm", partition: Optional[str] = None,
           timeout_min: int = 24 * 60, gpus_per_node: int = 1, cpus_per_task: int = 8, mem_gb: int = 32,
           array_parallelism: int = 64, extra: Optional[dict[str, Any]] = None) -> list[Any]:
    """Submit the runs without a result as one job array through submitit; returns the jobs.

    `cluster` is submitit's: "slurm", or "local"/"debug" to try the array on this machine.
    """
    try:
        import submitit
    except ImportError as exc:
        raise HarnessError("--executor slurm needs submitit: pip install 'harness[slurm]'") from exc
    pending = [item.spec for item in plan(specs) if item.state != "complete"]
    if not pending:
        return []
    executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    params: dict[str, Any] = {"timeout_min": timeout_min, "slurm_array_parallelism": array_parallelism,
                              "name": "harness-grid"}
    if cluster == "slurm":
        params.update(gpus_per_node=gpus_per_node, cpus_per_task=cpus_per_task, mem_gb=mem_gb)
        if partition:
            params["slurm_partition"] = partition
    params.update(extra or {})
    executor.update_parameters(**params)
    return executor.map_array(execute_spec, pending)
