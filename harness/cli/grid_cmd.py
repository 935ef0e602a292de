"""`harness grid`: a sweep of tasks x methods x seeds, here (N GPUs x K runs each) or on Slurm."""
from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import HarnessError, UsageError


def _names(values: list[str]) -> list[str]:
    """Accept both `--tasks a b` and `--tasks a,b`."""
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def add_parser(sub: argparse._SubParsersAction) -> None:
    from harness.cli.run_cmd import add_train_options
    from harness.grid_local import DEFAULT_GB_PER_RUN, MAX_RUNS_PER_GPU
    p = sub.add_parser("grid", help="run a sweep of tasks x methods x seeds (here, several runs per GPU, or on Slurm)")
    p.add_argument("--tasks", nargs="+", required=True, help="task names (space or comma separated)")
    p.add_argument("--methods", nargs="+", required=True, help="method names, or 'all' (per task)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="seeds of every grid point (default: 0)")
    p.add_argument("--schedule", default="smoke", help="a schedule name or YAML file (default: smoke)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="where to train (default: auto = cuda if any)")
    p.add_argument("--data-root", default=None, help="folder holding the task's data folder")
    p.add_argument("--out", default="results", help="results folder (default: results)")
    p.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE",
                   help="method config override for every run (only with a single method)")
    p.add_argument("--executor", default="local", choices=["local", "slurm"],
                   help="local: this machine (one process per run when several run at once); "
                        "slurm: one job array through submitit")
    p.add_argument("--dry-run", action="store_true", help="list the runs, their state and placement; run nothing")
    p.add_argument("--gpus", default=None, help="GPU indices to use here, e.g. 0,1 (default: all visible)")
    p.add_argument("--runs-per-gpu", type=int, default=None, metavar="K",
                   help=f"runs sharing each GPU (default: what fits in free memory at --gb-per-run, "
                        f"at most {MAX_RUNS_PER_GPU}; on Slurm 1)")
    p.add_argument("--gb-per-run", type=float, default=DEFAULT_GB_PER_RUN,
                   help=f"GPU memory one run needs, for the default K (default {DEFAULT_GB_PER_RUN:g}, an estimate)")
    p.add_argument("--parallel", type=int, default=1, help="runs at once without a GPU (default 1)")
    p.add_argument("--mps", action="store_true",
                   help="start NVIDIA's MPS daemon for this grid (K runs per GPU share it instead of taking turns) "
                        "and stop it at the end; needs nvidia-cuda-mps-control (--executor local)")
    p.add_argument("--slurm-folder", default=None, help="submitit logs (default: <out>/.slurm)")
    p.add_argument("--slurm-partition", default=None, help="with --executor slurm: the partition to submit to")
    p.add_argument("--slurm-time", type=int, default=24 * 60, help="minutes per job (default 1440); requeued after")
    p.add_argument("--slurm-gpus", type=int, default=1,
                   help="GPUs per job (default 1); the job runs one run per GPU (K with --runs-per-gpu)")
    p.add_argument("--slurm-cpus", type=int, default=8, help="CPUs per run")
    p.add_argument("--slurm-mem-gb", type=int, default=32, help="host memory per run")
    p.add_argument("--slurm-parallel", type=int, default=64, help="array jobs running at once")
    add_train_options(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from harness import grid
    from harness.cli.run_cmd import resolve_schedule, speed_fields, train_options
    from harness.config import parse_overrides
    methods = _names(args.methods)
    overrides = parse_overrides(args.overrides)
    if overrides and (len(methods) != 1 or methods == ["all"]):
        raise UsageError("--set applies to one method's config; give a single method with --set")
    for name in ("runs_per_gpu", "parallel", "slurm_gpus"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1, not {value}")
    specs = grid.expand(_names(args.tasks), methods, args.seeds, resolve_schedule(args.schedule),
                        device=args.device, data_root=args.data_root, out=args.out, overrides=overrides,
                        train=train_options(args), tensorboard=args.tensorboard, **speed_fields(args))
    items = grid.plan(specs)
    counts = {s: sum(i.state == s for i in items) for s in ("complete", "interrupted", "new")}
    print(f"grid: {len(items)} runs ({counts['complete']} complete, {counts['interrupted']} to resume, "
          f"{counts['new']} new)")
    if args.mps and args.executor == "slurm":
        raise UsageError("--mps starts the MPS daemon on this machine: use it with --executor local "
                         "(on Slurm, ask the cluster for MPS, e.g. its --gres mps)")
    if args.executor == "slurm":
        return _slurm(args, specs, items)
    mps = None
    if args.mps:
        from harness.grid_local import MpsDaemon
        mps = MpsDaemon(Path(args.out) / ".mps")  # one-line usage error here when there is no MPS
    slots = _local_slots(args)
    pending = [i for i in items if i.state != "complete"]
    if args.dry_run:
        _print_placement(items, slots)
        return 0
    if len(slots) == 1 and slots[0].gpu is None:
        report = grid.run_local(specs)  # one at a time on the CPU: in this process, as before
    else:
        from contextlib import nullcontext

        from harness.grid_local import run_pool
        print(f"running {len(pending)} run(s) on {len(slots)} slot(s): {', '.join(s.label for s in slots)}"
              + (" under MPS" if mps else ""))
        with mps or nullcontext():
            report = run_pool(items, slots)
    for entry in report:
        print(f"  {entry['outcome']:<11}  {entry.get('slot', ''):<7} {entry['run_dir']}")
    failed = [e for e in report if e["outcome"] != "skipped" and e["outcome"] not in ("trained", "resumed")]
    if failed:
        raise HarnessError(f"{len(failed)} of {len(report)} run(s) did not finish:\n  " + "\n  ".join(
            f"{e['run_dir']}: {e.get('error', e['outcome'])} (log: {e.get('log', '-')})" for e in failed))
    return 0


def _local_slots(args: argparse.Namespace, gpus: list | None = None) -> list:
    """The slots this machine offers: chosen GPUs x K, or --parallel CPU slots."""
    from harness.grid_local import discover_gpus, make_slots, runs_per_gpu
    if args.device == "cpu":
        gpus = []
    elif gpus is None:
        gpus = discover_gpus()
    if args.gpus:
        wanted = [int(g) for g in _names([args.gpus]) if g.isdigit()]
        unknown = sorted(set(wanted) - {g.index for g in gpus})
        if unknown or not wanted:
            raise UsageError(f"--gpus {args.gpus}: no such GPU here (visible: {[g.index for g in gpus] or 'none'})")
        gpus = [g for g in gpus if g.index in wanted]
    if args.device == "cuda" and not gpus:
        raise UsageError("--device cuda: no GPU is visible here (use --device auto or cpu)")
    k = args.runs_per_gpu or runs_per_gpu(gpus, args.gb_per_run)
    return make_slots(gpus, k, args.parallel)


def _print_placement(items: list, slots: list) -> None:
    from harness.grid_local import first_wave
    pending = [i for i in items if i.state != "complete"]
    print(f"slots: {len(slots)} ({', '.join(s.label for s in slots)}); runs start in this order, each on the "
          "next free slot")
    where = iter(first_wave(len(pending), slots))
    for item in items:
        slot = "-" if item.state == "complete" else (getattr(next(where), "label", None) or "queued")
        print(f"  {item.state:<11}  {slot:<7}  {item.spec.run_dir}")


def _slurm(args: argparse.Namespace, specs: list, items: list) -> int:
    from harness import grid
    per_job = args.slurm_gpus * (args.runs_per_gpu or 1)
    pending = [i for i in items if i.state != "complete"]
    if args.dry_run:
        print(f"slurm: {-(-len(pending) // per_job)} array job(s) of up to {per_job} run(s), "
              f"{args.slurm_gpus} GPU(s) each, one process per run")
        for item in items:
            print(f"  {item.state:<11}  {item.spec.run_dir}")
        return 0
    folder = Path(args.slurm_folder or Path(args.out) / ".slurm")
    jobs = grid.submit(specs, folder, "slurm", args.slurm_partition, args.slurm_time, args.slurm_gpus,
                       args.slurm_cpus, args.slurm_mem_gb, args.slurm_parallel, args.runs_per_gpu or 1)
    print(f"submitted {len(jobs)} array job(s)" + (f", job {jobs[0].job_id.split('_')[0]}" if jobs else "")
          + f"; logs in {folder}")
    return 0
