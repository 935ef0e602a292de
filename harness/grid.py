"""Experiment grids: tasks x methods x seeds (one schedule) as `RunSpec`s, run here or on Slurm.

Every run goes through `harness.pipeline.execute`, which skips runs that have a result and
resumes runs with a checkpoint, so re-running a grid command continues where it stopped.
Here: one run after another in this process, or N GPUs x K runs per GPU, each in its own
process (`harness.grid_local`). On a cluster: one Slurm job array through submitit, each job
holding one run per GPU (or K), one process each, requeued on preemption or time-out and
resumed from the checkpoint saved at the signal. No scheduling logic lives here beyond that.
"""
from __future__ import annotations

import dataclasses
import logging
import shutil
import sys
import traceback
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
    """Execute the runs one after another in this process; complete ones are skipped, interrupted
    ones resumed. (Several at once, each in its own process: `harness.grid_local.run_pool`.)"""
    from harness.pipeline import execute
    from harness.training.preemption import Preempted
    report = []
    for item in plan(specs):
        entry = {"run_dir": str(item.spec.run_dir), "before": item.state, "log": str(item.spec.run_dir / "train.log")}
        if item.state == "complete":
            entry["outcome"] = "skipped"
        else:
            try:
                execute(item.spec)
                entry["outcome"] = "resumed" if item.state == "interrupted" else "trained"
            except (UsageError, Preempted):
                raise  # a wrong option, or a signal to stop: not one run's failure
            except Exception as exc:  # torch's errors included: one run's failure, the others go on
                if not keep_going:
                    raise
                entry.update(outcome="failed", error=record_failure(item.spec.run_dir, exc))
        report.append(entry)
    return report


def record_failure(run_dir: Path, exc: BaseException) -> str:
    """Append the failure's traceback to the run's log (RUN_DIR/train.log); return it as one line."""
    summary = str(exc) if isinstance(exc, HarnessError) else f"{type(exc).__name__}: {exc}"
    summary = " ".join(summary.split())[:500]
    log.error("%s failed: %s", run_dir, summary)
    try:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        with (Path(run_dir) / "train.log").open("a", encoding="utf-8") as sink:
            sink.write(f"run failed: {summary}\n{''.join(traceback.format_exception(exc))}")
    except OSError as err:  # an unwritable folder must not hide the failure itself
        log.error("could not write the traceback to %s: %s", run_dir, err)
    return summary


# ---- schedules travel with the runs (a schedule file is registered only where it was read) ----
def schedules_of(specs: Iterable[Any]) -> dict[str, dict[str, Any]]:
    return {name: dataclasses.asdict(SCHEDULES.get(name)) for name in dict.fromkeys(s.schedule for s in specs)}


def register_schedules(schedules: dict[str, dict[str, Any]]) -> None:
    from harness.config import from_dict
    from harness.schedules import Schedule
    for name, fields in schedules.items():
        if name not in SCHEDULES:
            SCHEDULES.register(name, from_dict(Schedule, fields, where=f"schedule {name}"))


# ---- Slurm (or submitit's local/debug executors) ------------------------------------------------
class GridTask:
    """What every process of an array job runs: its share of the job's runs, one after another.

    A job holds up to gpus x runs_per_gpu runs and starts one process per run (submitit's
    `tasks_per_node`); process r runs group[r::n_processes] on GPU local_rank // runs_per_gpu.
    `checkpoint` is submitit's checkpointing protocol: on preemption or time-out the job is
    requeued with the same call, and `execute` skips finished runs and resumes the others from
    their checkpoints (saved at the signal: `harness.training.preemption`).
    """

    def __init__(self, schedules: dict[str, dict[str, Any]], runs_per_gpu: int = 1):
        self.schedules, self.runs_per_gpu = schedules, max(1, runs_per_gpu)

    def __call__(self, group: list[Any]) -> list[str]:
        import submitit
        import torch

        from harness.pipeline import execute
        from harness.training.preemption import Preempted, hand_over_to_submitit
        env = submitit.JobEnvironment()
        rank, n_tasks = env.global_rank, env.num_tasks
        # The harness's progress (training, resuming from step N) in the job's log, beside submitit's.
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        register_schedules(self.schedules)
        if torch.cuda.is_available():
            torch.cuda.set_device((env.local_rank // self.runs_per_gpu) % torch.cuda.device_count())
        done, failed = [], []
        for spec in group[rank::n_tasks]:
            try:
                done.append(str(execute(spec)))
            except Preempted as exc:
                hand_over_to_submitit(exc)  # checkpoint() below, requeue, exit
            except Exception as exc:  # torch's errors included: this run failed, the task's others go on
                failed.append(f"{spec.run_dir}: {record_failure(spec.run_dir, exc)} (log: {spec.run_dir}/train.log)")
        if failed:
            raise HarnessError(f"{len(failed)} run(s) of this task failed:\n  " + "\n  ".join(failed))
        return done

    def checkpoint(self, group: list[Any]) -> Any:
        from submitit.helpers import DelayedSubmission
        return DelayedSubmission(self, group)


def submit(specs: Iterable[Any], folder: Path, cluster: Optional[str] = "slurm", partition: Optional[str] = None,
           timeout_min: int = 24 * 60, gpus_per_job: int = 1, cpus_per_run: int = 8, mem_gb_per_run: int = 32,
           array_parallelism: int = 64, runs_per_gpu: int = 1, extra: Optional[dict[str, Any]] = None,
           max_timeouts: int = 10) -> list[Any]:
    """Submit the runs without a result as one job array through submitit; returns the jobs.

    Each array job takes gpus_per_job x runs_per_gpu runs and starts one process per run.
    `cluster` is submitit's: "slurm", or "local"/"debug" to try the array on this machine.
    A job that reaches its time limit is requeued up to `max_timeouts` times (preemptions do not
    count), each time resuming its runs from their checkpoints.
    """
    if cluster == "slurm" and shutil.which("sbatch") is None:
        raise UsageError("--executor slurm: no Slurm here (sbatch is not on PATH); run it on a Slurm login node, "
                         "or use --executor local")
    try:
        import submitit
    except ImportError:
        raise UsageError("--executor slurm needs submitit: pip install 'harness[slurm]'") from None
    pending = [item.spec for item in plan(specs) if item.state != "complete"]
    if not pending:
        return []
    per_job = max(1, gpus_per_job) * max(1, runs_per_gpu)
    groups = [pending[i:i + per_job] for i in range(0, len(pending), per_job)]
    executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster, slurm_max_num_timeout=max_timeouts,
                                     local_max_num_timeout=max_timeouts)
    params: dict[str, Any] = {"timeout_min": timeout_min, "slurm_array_parallelism": array_parallelism,
                              "name": "harness-grid", "tasks_per_node": min(per_job, max(map(len, groups)))}
    if cluster == "slurm":
        params.update(gpus_per_node=gpus_per_job, cpus_per_task=cpus_per_run, mem_gb=mem_gb_per_run * per_job)
        if partition:
            params["slurm_partition"] = partition
    params.update(extra or {})
    executor.update_parameters(**params)
    return executor.map_array(GridTask(schedules_of(pending), runs_per_gpu), groups)
