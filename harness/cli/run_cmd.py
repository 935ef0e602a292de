"""`harness run` (train, translate, evaluate, write results) and `harness resume RUN_DIR`."""
from __future__ import annotations

import argparse
import logging
import sys

from harness.config import parse_overrides
from harness.errors import HarnessError, UsageError
from harness.registry import METHODS, SCHEDULES, TASKS

log = logging.getLogger("harness.cli")
DEVICES = ["auto", "cpu", "cuda"]
# The install hint for optional packages: right for a checkout (`pip install -e .`), the usual case.
TENSORBOARD_HINT = "pip install -e '.[tensorboard]' in a checkout (or pip install 'i2i-harness[tensorboard]')"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="train methods on a task and write one result per run",
                       description="Trains each method (each seed), translates the test set, evaluates it and "
                                   "writes RESULTS/TASK/METHOD/RUN_ID/result.json. Every name and option is "
                                   "checked before any training.",
                       epilog="examples:\n  harness run --task demo --methods all --schedule demo\n"
                              "  harness run --task horse2zebra --methods cyclegan,asgit-pha-rhp --seed 0 1 2",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True, help="a registered task (harness list tasks)")
    p.add_argument("--methods", required=True, help="comma-separated method names, or 'all' (those that fit the task)")
    p.add_argument("--schedule", default="smoke",
                   help=f"one of {', '.join(SCHEDULES.names())} (default: smoke), or a schedule YAML file "
                        "(registered under its name)")
    p.add_argument("--seed", type=seed_value, nargs="+", default=[0], help="one run per seed (default: 0)")
    p.add_argument("--device", default="auto", choices=DEVICES, help="where to train (default: auto = cuda if any)")
    p.add_argument("--data-root", default=None, help="folder holding the task's data folder")
    p.add_argument("--out", default="results", help="results folder (default: results)")
    p.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE",
                   help="method config override, e.g. --set lambda_identity=0 (repeatable)")
    p.add_argument("--force", action="store_true", help="retrain runs that already have a result")
    p.add_argument("--discard-checkpoints", action="store_true",
                   help="delete each run's checkpoint once its result is written (quick checks; no later resume)")
    p.add_argument("--jobs", type=jobs_value, default=1, metavar="N",
                   help="runs of the request N at a time in N worker processes, one torch thread each unless "
                        "OMP_NUM_THREADS says otherwise (default 1: one after another in this process); results "
                        "are the same either way")
    from harness.cli.run_jobs import CHILD_FLAG
    p.add_argument(CHILD_FLAG, dest="unavailable_summary", action="store_false", help=argparse.SUPPRESS)
    add_train_options(p)
    add_inception_weights(p)
    p.set_defaults(handler=handle_run)

    r = sub.add_parser("resume", help="continue an interrupted run from its last checkpoint")
    r.add_argument("run_dir", help="the run folder (RESULTS/TASK/METHOD/RUN_ID)")
    r.add_argument("--device", default=None, choices=DEVICES, help="where to continue (default: as recorded)")
    r.add_argument("--data-root", default=None, help="folder holding the task's data folder")
    r.add_argument("--from-previous", action="store_true",
                   help="the latest checkpoint is damaged: set it aside and continue from the one before it")
    add_inception_weights(r)
    r.set_defaults(handler=handle_resume)


def seed_value(text: str) -> int:
    """A seed: a whole number of at least 0 (what torch, numpy and random all accept)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value < 2 ** 32:
        raise argparse.ArgumentTypeError(f"{value} is outside 0 .. 2**32-1")
    return value


def jobs_value(text: str) -> int:
    """--jobs: how many runs at once, at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value


def add_train_options(p: argparse.ArgumentParser) -> None:
    """Trainer options shared by `run` and `grid`."""
    p.add_argument("--batch-size", type=int, default=None,
                   help="per-process batch size (default: the schedule's; the paper uses 1); part of the run id")
    p.add_argument("--lr-rule", default=None, choices=["none", "linear", "sqrt"],
                   help="learning-rate rule for a larger effective batch (default none); recorded")
    add_speed_options(p)
    p.add_argument("--tensorboard", action="store_true",
                   help="also log losses, snapshots, final metrics and config to RUN_DIR/tensorboard "
                        "(needs the optional package: pip install -e '.[tensorboard]')")


def require_tensorboard(args: argparse.Namespace) -> None:
    """--tensorboard without the package: refused before any work (no half-made run folder)."""
    import importlib.util
    if getattr(args, "tensorboard", False) and importlib.util.find_spec("tensorboard") is None:
        raise UsageError(f"--tensorboard needs the tensorboard package, which is not installed: {TENSORBOARD_HINT}")


def add_speed_options(p: argparse.ArgumentParser) -> None:
    """Speed options: recorded in result.json (environment.device), not part of the run id."""
    from harness.training.device import COMPILE_MODES, MEMORY_FORMATS
    g = p.add_argument_group("speed options (recorded in result.json; not part of the run id)")
    g.add_argument("--compile", action="store_true",
                   help="torch.compile each network's forward; result.json records per network: compiled, "
                        "skipped (reason) or fell back (reason)")
    g.add_argument("--compile-mode", default="default", choices=COMPILE_MODES,
                   help="with --compile (default: default); reduce-overhead replays CUDA graphs")
    g.add_argument("--fused-adam", action="store_true",
                   help="fused Adam on CUDA (the CPU always uses it); same update rule, one kernel")
    g.add_argument("--memory-format", default="auto", choices=MEMORY_FORMATS,
                   help="auto (default): channels_last on CUDA, the standard layout on the CPU")


def speed_fields(args: argparse.Namespace) -> dict:
    """The RunSpec fields of the speed options."""
    return {"compile": args.compile, "compile_mode": args.compile_mode, "fused_adam": args.fused_adam,
            "memory_format": args.memory_format}


def train_options(args: argparse.Namespace) -> dict:
    require_tensorboard(args)
    out = {}
    if args.batch_size is not None:
        if args.batch_size < 1:
            raise UsageError(f"--batch-size must be at least 1, not {args.batch_size}")
        out["batch_size"] = args.batch_size
    if args.lr_rule is not None:
        out["lr_rule"] = args.lr_rule
    return out


def resolve_schedule(value: str) -> str:
    """A registered schedule name, or a YAML file whose schedule is registered under its own name."""
    from pathlib import Path

    from harness.schedules import load_schedule_file
    if value.endswith((".yaml", ".yml")):
        from harness.run_folder import check_name
        path = Path(value)
        if not path.is_file():
            raise UsageError(f"--schedule {value}: no such schedule file")
        schedule = load_schedule_file(path)
        check_name(schedule.name, f"--schedule {value}: schedule")
        if schedule.name in SCHEDULES:
            if SCHEDULES.get(schedule.name) != schedule:
                raise UsageError(f"--schedule {value}: its name {schedule.name!r} is taken by another schedule")
        else:
            SCHEDULES.register(schedule.name, schedule, description=schedule.description)
        return schedule.name
    SCHEDULES.get(value, where="--schedule")
    return value


def add_inception_weights(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inception-weights", default=None, metavar="PATH",
                   help="torch-fidelity's weights-inception-2015-12-05-6726825d.pth for KID, as in `harness evaluate` "
                        "(else $HARNESS_INCEPTION_WEIGHTS or torch-fidelity's cache, downloaded there if missing)")
    p.add_argument("--offline", action="store_true", help="never download metric weights (= HARNESS_OFFLINE=1)")


def eval_options(args: argparse.Namespace):
    """Evaluation options for the end of a run; None when nothing differs from the defaults.

    An explicit --inception-weights is checked before any training: a wrong path would otherwise
    only show up as 'KID unavailable' after the whole run."""
    from harness.evaluation.inception import apply_offline_flag
    apply_offline_flag(args)
    path = getattr(args, "inception_weights", None)
    if not path:
        return None
    from harness.evaluation import EvalOptions
    from harness.evaluation.inception import WeightsUnavailable, locate_inception_weights
    try:
        locate_inception_weights(path)
    except WeightsUnavailable as exc:
        raise UsageError(f"--inception-weights: {exc}") from exc
    return EvalOptions(inception_weights=str(path))


def resolve_methods(value: str, task_name: str) -> list[str]:
    from harness.pipeline import methods_for_task
    task = TASKS.get(task_name, where="--task")
    if value.strip() == "all":
        names = methods_for_task(task)
        if not names:
            raise UsageError(f"no registered method supports task {task_name!r}")
        return names
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise UsageError("--methods is empty; give names (harness list methods) or 'all'")
    from harness.pipeline import setting_for
    misfits = []
    for name in names:
        method_cls = METHODS.get(name, where="--methods")
        try:
            setting_for(method_cls, task)
        except UsageError:
            misfits.append(f"{name} ({'/'.join(method_cls.settings)})")
    if misfits:  # all of them, before any training (not after the first method's whole run)
        fits = methods_for_task(task)
        verb = "does" if len(misfits) == 1 else "do"
        raise UsageError(f"--methods: {', '.join(misfits)} {verb} not fit task {task_name!r} "
                         f"({'/'.join(task.settings)}); methods that fit: {', '.join(fits) or 'none'}")
    return names


def handle_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from harness.pipeline import RunSpec, execute
    from harness.training.preemption import Preempted
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise UsageError(f"--out {args.out} is a file, not a folder; name a folder for the results (it is created)")
    schedule = resolve_schedule(args.schedule)
    train = train_options(args)
    methods = resolve_methods(args.methods, args.task)
    overrides = parse_overrides(args.overrides)
    options = eval_options(args)
    if overrides and len(methods) > 1:
        raise UsageError("--set applies to one method's config; run one method at a time with --set")
    failures, finished = [], []
    runs = [(name, seed) for seed in args.seed for name in methods]
    if args.jobs > 1 and len(runs) > 1:  # every name and option is checked above, before any worker starts
        from harness.cli.run_jobs import run_parallel
        finished, failures = run_parallel(args, runs, min(args.jobs, len(runs)), schedule)
        runs = []
    for name, seed in runs:
        spec = RunSpec(args.task, name, schedule, seed, args.device, args.data_root, args.out, overrides,
                       train, tensorboard=args.tensorboard, **speed_fields(args))
        try:
            run_dir = execute(spec, force=args.force, eval_options=options,
                              keep_checkpoint=not args.discard_checkpoints)
            print(run_dir / "result.json")
            finished.append(run_dir)
        except (UsageError, Preempted):  # a signal to stop ends the whole command, not one run
            raise
        except HarnessError as exc:
            if len(runs) == 1:
                raise
            log.error("%s seed %d failed: %s", name, seed, exc)
            failures.append(f"{name} (seed {seed}): {exc}")
    from harness.evaluation.report import runs_unavailable_lines
    for line in runs_unavailable_lines(finished) if args.unavailable_summary else ():
        print(line, file=sys.stderr)  # why a metric is missing, and the fix; stdout stays one result path per line
    if failures:
        raise HarnessError(f"{len(failures)} run(s) failed:\n  " + "\n  ".join(failures))
    return 0


def handle_resume(args: argparse.Namespace) -> int:
    from harness.pipeline import resume
    run_dir = resume(args.run_dir, device=args.device, data_root=args.data_root, eval_options=eval_options(args),
                     from_previous=args.from_previous)
    print(run_dir / "result.json")
    from harness.evaluation.report import runs_unavailable_lines
    for line in runs_unavailable_lines([run_dir]):
        print(line, file=sys.stderr)
    return 0
