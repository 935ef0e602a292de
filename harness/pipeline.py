"""One run, start to end: data → split → train → translate → evaluate → result.

Each stage reads what the stage before it produced. `run.json` in the run folder holds the
run's spec and resolved config, so `resume` can rebuild everything from the folder alone.
"""
from __future__ import annotations

import dataclasses
import logging
import random
import shutil
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from harness.config import from_dict
from harness.data.datasets import test_batches, to_uint8
from harness.data.prepare import PreparedData, prepare_data
from harness.errors import HarnessError, UsageError
from harness.io import remove_stale_temporaries, sha256_file, write_json
from harness.registry import METHODS, SCHEDULES, TASKS
from harness.run_folder import RunLock, check_drift, read_run_record, register_saved_schedule, trained_on
from harness.run_spec import RUN_SPEC, RunSpec, spec_from_record, speed_options  # noqa: F401 (public)
from harness.results import NOT_EVALUATED, RESULT_NAME, SCHEMA_VERSION, environment, now_iso, write_result
from harness.tasks import ImageSpec, TaskSpec
from harness.training import distributed
from harness.training.device import setup_device
from harness.training.method import Method, MethodContext
from harness.training.trainer import Trainer, TrainOptions, TrainOutcome, iters_per_epoch
from harness.translate import TRANSLATE_DTYPE, save_sample_grids, translate_test_set

log = logging.getLogger("harness.pipeline")
def _fits_task(method_cls: type, task: TaskSpec) -> bool:
    """A method may name the only tasks it is defined for (`tasks`, e.g. the demo's `flat` reference row)."""
    only = getattr(method_cls, "tasks", None)
    return only is None or task.name in only


def setting_for(method_cls: type[Method], task: TaskSpec) -> str:
    """Supervised methods need pairs; unsupervised methods need two domains."""
    if not _fits_task(method_cls, task):
        raise UsageError(f"method {method_cls.__name__} is defined only for task(s) {', '.join(method_cls.tasks)}, "
                         f"not {task.name!r}")
    for setting in method_cls.settings:
        if setting in task.settings:
            return setting
    raise UsageError(f"method {method_cls.__name__} ({'/'.join(method_cls.settings)}) does not fit task "
                     f"{task.name!r} ({'/'.join(task.settings)})")


def methods_for_task(task: TaskSpec) -> list[str]:
    """`--methods all`: every registered method whose setting the task supports."""
    return [e.name for e in METHODS.entries()
            if any(s in task.settings for s in e.obj.settings) and _fits_task(e.obj, task)]


def image_spec(task: TaskSpec, setting: str, schedule) -> ImageSpec:
    return task.image_spec(setting, schedule.image_size)


def build_method(spec: RunSpec, task: TaskSpec, prepared: PreparedData,
                 world_size: int = 1) -> tuple[Method, str, ImageSpec]:
    method_cls = METHODS.get(spec.method, where="--methods")
    setting = setting_for(method_cls, task)
    schedule = SCHEDULES.get(spec.schedule, where="--schedule").for_run(setting, spec.method)
    image = image_spec(task, setting, schedule)
    n_items = len(prepared.split.train["A"]) if setting == "supervised" else \
        max(len(prepared.split.train["A"]), len(prepared.split.train["B"]))
    context = MethodContext(image.crop_size, image.channels, setting, schedule, task.domains,
                            iters_per_epoch(n_items, schedule, spec.train.get("batch_size"), world_size))
    config = from_dict(method_cls.config_class, {**schedule.defaults_for(method_cls.config_class), **spec.overrides},
                       where=f"--set for {spec.method}")
    return method_cls(config, context), setting, image


def execute(spec: RunSpec, force: bool = False, stop_at_step: Optional[int] = None,
            eval_options: Any = None, keep_checkpoint: bool = True, from_previous: bool = False) -> Path:
    """Run one (task, method, schedule, seed); resume it if its folder holds an unfinished run.

    `keep_checkpoint=False` deletes the checkpoint once the result is written (quick checks such
    as the demo, whose full-state checkpoints are hundreds of MB each); the result records it.

    `eval_options` (a `harness.evaluation.EvalOptions`, e.g. with `inception_weights`) go to the
    evaluation at the end; None: the defaults (weights from $HARNESS_INCEPTION_WEIGHTS or the cache).

    `from_previous`: the latest checkpoint is damaged; continue from the one before it.
    """
    task = TASKS.get(spec.task, where="--task")
    unknown = SCHEDULES.get(spec.schedule, where="--schedule").unknown_methods(METHODS.names())
    if unknown:
        raise UsageError(f"schedule {spec.schedule}: per_method names {', '.join(unknown)}, which is no registered "
                         "method; fix the schedule file (`harness list methods` lists them)")
    METHODS.get(spec.method, where="--methods")
    if spec.world_size == 1 and distributed.requested_world_size() > 1:
        spec = dataclasses.replace(spec, world_size=distributed.requested_world_size())
    if (spec.run_dir / RESULT_NAME).exists() and not force:
        log.info("%s is complete; skipping (use --force to train again)", spec.run_dir)
        return spec.run_dir
    prepared = prepare_data(task, spec.data_root)  # fails before anything is written
    args = (spec, prepared, stop_at_step, eval_options, keep_checkpoint, from_previous)
    if not distributed.requested_main():  # rank 0 holds the folder's lock for all ranks
        return _execute(*args)
    existed = spec.run_dir.exists()
    try:
        with RunLock(spec.run_dir) as lock:
            if force:
                lock.clear_folder()
            removed = remove_stale_temporaries(spec.run_dir)
            if removed:
                log.info("removed %d temporary file(s) left by interrupted writes in %s", len(removed), spec.run_dir)
            return _execute(*args)
    finally:
        if not existed and spec.run_dir.is_dir() and not any(spec.run_dir.iterdir()):
            spec.run_dir.rmdir()  # a run that failed before writing anything leaves no folder


def _execute(spec: RunSpec, prepared: PreparedData, stop_at_step: Optional[int], eval_options: Any,
             keep_checkpoint: bool, from_previous: bool) -> Path:
    task = prepared.task
    setting = setting_for(METHODS.get(spec.method, where="--methods"), task)
    schedule = SCHEDULES.get(spec.schedule, where="--schedule").for_run(setting, spec.method)
    run_dir = spec.run_dir
    spec_file = run_dir / RUN_SPEC
    saved_run = read_run_record(spec_file) if spec_file.exists() else None
    if saved_run is not None:
        previous = spec_from_record(saved_run["spec"], spec_file)
        if dataclasses.replace(previous, out=spec.out, device=spec.device, data_root=spec.data_root,
                               compile=spec.compile, tensorboard=spec.tensorboard, **speed_options(spec)) != spec:
            raise HarnessError(f"{run_dir} holds a different run ({previous}); use --force to replace it")
        log.info("resuming the unfinished run in %s", run_dir)

    torch.manual_seed(spec.seed)
    random.seed(spec.seed)
    np.random.seed(spec.seed)
    device = setup_device(spec.device, compile=spec.compile, **speed_options(spec))
    main = device.dist.is_main
    method, setting, image = build_method(spec, task, prepared, device.dist.world_size)
    method = device.prepare_method(method)
    basis = trained_on(prepared, schedule, method.config_dict(), spec.train)
    if saved_run is not None:
        check_drift(run_dir, saved_run.get("trained_on"), basis, prepared.root)
    run_dir.mkdir(parents=True, exist_ok=True)
    if main and saved_run is None:
        # Everything a resume needs, the schedule itself included (a --schedule FILE may be gone).
        write_json(spec_file, {"spec": dataclasses.asdict(spec), "created_at": now_iso(), "trained_on": basis})
        prepared.split.save(run_dir / "split.json")
    if main:
        _attach_log_file(run_dir)

    env = {**environment(), "device": device.record()}  # the code as it was when training started
    trainer = Trainer(method, prepared, schedule, image, device, run_dir, spec.seed, setting == "supervised",
                      dataclasses.replace(from_dict(TrainOptions, spec.train, where="train options"),
                                          tensorboard=spec.tensorboard))
    if getattr(method, "trainable", True):
        log.info("training %s on %s (%s, %s schedule, seed %d, %s): %d steps", spec.method, spec.task, setting,
                 spec.schedule, spec.seed, device.device, trainer.total_steps)
        outcome = trainer.fit(stop_at_step=stop_at_step, from_previous=from_previous)
    else:  # reference rows such as `identity` have nothing to train
        log.info("%s on %s: nothing to train (reference row); translating the test set", spec.method, spec.task)
        outcome = TrainOutcome(steps=0, epochs=0, wall_time_s=0.0, resumed_from_step=0, last_losses={})
    rank_digests = trainer.ranks_agree()
    if not main:  # data-parallel workers: rank 0 alone translates, evaluates and writes
        distributed.shutdown(device.dist)
        return run_dir
    has_checkpoint = trainer.checkpoint_path.exists()

    translations = translate_test_set(method, prepared.split, image, device, run_dir / "translations", spec.seed)
    samples = save_sample_grids(method, prepared.split, image, device, run_dir, schedule.sample_count, spec.seed)
    # Compile per network, as it turned out (after training and translation): not one boolean.
    env["device"]["compile"] = {"enabled": spec.compile, **({"mode": device.compile_mode,
                                "networks": device.compile_record()} if spec.compile else {})}
    result = {
        "schema_version": SCHEMA_VERSION,
        "status": "complete",
        "created_at": now_iso(),
        "task": {"name": task.name, "version": task.version, "domains": list(task.domains)},
        "method": spec.method,
        "setting": setting,
        "schedule": spec.schedule,
        "seed": spec.seed,
        "directions": {d: task.direction_name(d) for d in method.directions},
        "metrics": dict(NOT_EVALUATED),
        "config": {"method": method.config_dict(), "method_class": f"{type(method).__module__}.{type(method).__name__}",
                   "schedule": dataclasses.asdict(schedule), "image": dataclasses.asdict(image),
                   "task": dataclasses.asdict(task), "overrides": dict(spec.overrides)},
        "environment": env,
        "data": prepared.record(),
        "run": {"run_id": spec.run_id, "world_size": trainer.dist.world_size,
                "effective_batch": trainer.effective_batch, "steps": outcome.steps, "epochs": outcome.epochs,
                "iters_per_epoch": trainer.iters_per_epoch, "wall_time_s": round(outcome.wall_time_s, 3),
                "resumed_from_step": outcome.resumed_from_step, "last_losses": outcome.last_losses,
                "checkpoint": str(trainer.checkpoint_path.relative_to(run_dir)) if has_checkpoint else None,
                "checkpoint_sha256": sha256_file(trainer.checkpoint_path) if has_checkpoint else None,
                "checkpoint_kept": has_checkpoint and keep_checkpoint,
                "n_parameters": sum(p.numel() for p in method.parameters()),
                "trainer": trainer.record(), "weights_sha256": rank_digests[0],
                **({"rank_weights_sha256": rank_digests} if device.dist.enabled else {})},
        "translations": translations,
        "translate_dtype": TRANSLATE_DTYPE,
        "samples": samples,
    }
    diagnose = getattr(method, "diagnostics", None)  # a method's own measurements of what it learned (ASGIT)
    if diagnose is not None:
        result["diagnostics"] = diagnose({d: test_batches(prepared.split.test[d[0]], image) for d in method.directions},
                                         quantise=to_uint8, run_dir=run_dir)
    result["metrics"] = evaluate_after_training(run_dir, result, prepared, eval_options)
    write_result(run_dir, result)
    log.debug("wrote %s", run_dir / RESULT_NAME)  # stdout prints the path
    if spec.tensorboard and device.dist.is_main:  # final metrics and config beside the loss curves
        from harness.training.monitor import write_hparams
        write_hparams(run_dir, result)
    if not keep_checkpoint:
        shutil.rmtree(trainer.checkpoint_path.parent, ignore_errors=True)
    distributed.shutdown(device.dist)
    return run_dir


def evaluate_after_training(run_dir: Path, result: dict[str, Any], prepared: PreparedData,
                            options: Any = None) -> dict[str, Any]:
    """Hand the translations to the evaluation stage; its absence leaves an explicit 'not evaluated'."""
    import importlib.util
    if importlib.util.find_spec("harness.evaluation") is None:
        return dict(NOT_EVALUATED)
    # Imported only when present, so a real import error inside the package is not hidden.
    from harness.evaluation import evaluate_run
    return evaluate_run(run_dir, result, prepared, options)


def resume(run_dir: Path, device: Optional[str] = None, data_root: Optional[str] = None,
           eval_options: Any = None, from_previous: bool = False) -> Path:
    spec_file = Path(run_dir) / RUN_SPEC
    if not spec_file.exists():
        raise UsageError(f"{run_dir} is not a run folder (no {RUN_SPEC}); start runs with `harness run`")
    if (Path(run_dir) / RESULT_NAME).exists():
        raise UsageError(f"{run_dir} is already complete (it has {RESULT_NAME})")
    saved = read_run_record(spec_file)
    data = saved["spec"]
    run_path = Path(run_dir)
    register_saved_schedule(data.get("schedule"), (saved.get("trained_on") or {}).get("schedule"), spec_file)
    # The run folder is <out>/<task>/<method>/<run_id>: the out folder follows from where it is now.
    data["out"] = str(run_path.parent.parent.parent)
    if device:
        data["device"] = device
    if data_root:
        data["data_root"] = data_root
    spec = spec_from_record(data, spec_file)
    if spec.run_dir.resolve() != run_path.resolve():
        raise HarnessError(f"{run_dir} does not match its run.json ({spec.run_dir})")
    return execute(spec, eval_options=eval_options, from_previous=from_previous)


def _attach_log_file(run_dir: Path) -> None:
    root = logging.getLogger("harness")
    target = str((run_dir / "train.log").resolve())
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler):
            root.removeHandler(handler)
            handler.close()
    handler = logging.FileHandler(target, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
