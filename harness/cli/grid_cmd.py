"""`harness grid`: a sweep of tasks x methods x seeds, run here one after another or on Slurm."""
from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import HarnessError, UsageError


def _names(values: list[str]) -> list[str]:
    """Accept both `--tasks a b` and `--tasks a,b`."""
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def add_parser(sub: argparse._SubParsersAction) -> None:
    from harness.cli.run_cmd import add_train_options
    p = sub.add_parser("grid", help="run a sweep of tasks x methods x seeds (locally or as a Slurm job array)")
    p.add_argument("--tasks", nargs="+", required=True, help="task names (space or comma separated)")
    p.add_argument("--methods", nargs="+", required=True, help="method names, or 'all' (per task)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--schedule", default="smoke", help="a schedule name or YAML file (default: smoke)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--data-root", default=None)
    p.add_argument("--out", default="results")
    p.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE",
                   help="method config override for every run (only with a single method)")
    p.add_argument("--executor", default="local", choices=["local", "slurm"],
                   help="local: one run after another here; slurm: one job array through submitit")
    p.add_argument("--dry-run", action="store_true", help="list the runs and their state, run nothing")
    p.add_argument("--slurm-folder", default=None, help="submitit logs (default: <out>/.slurm)")
    p.add_argument("--slurm-partition", default=None)
    p.add_argument("--slurm-time", type=int, default=24 * 60, help="minutes per run (default 1440)")
    p.add_argument("--slurm-gpus", type=int, default=1, help="GPUs per run (default 1)")
    p.add_argument("--slurm-cpus", type=int, default=8)
    p.add_argument("--slurm-mem-gb", type=int, default=32)
    p.add_argument("--slurm-parallel", type=int, default=64, help="array tasks running at once")
    add_train_options(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from harness import grid
    from harness.cli.run_cmd import resolve_schedule, train_options
    from harness.config import parse_overrides
    methods = _names(args.methods)
    overrides = parse_overrides(args.overrides)
    if overrides and (len(methods) != 1 or methods == ["all"]):
        raise UsageError("--set applies to one method's config; give a single method with --set")
    specs = grid.expand(_names(args.tasks), methods, args.seeds, resolve_schedule(args.schedule),
                        device=args.device, data_root=args.data_root, out=args.out, overrides=overrides,
                        train=train_options(args), compile=args.compile,
                        tensorboard=args.tensorboard)
    items = grid.plan(specs)
    counts = {s: sum(i.state == s for i in items) for s in ("complete", "interrupted", "new")}
    print(f"grid: {len(items)} runs ({counts['complete']} complete, {counts['interrupted']} to resume, "
          f"{counts['new']} new)")
    if args.dry_run:
        for item in items:
            print(f"  {item.state:<11}  {item.spec.run_dir}")
        return 0
    if args.executor == "slurm":
        folder = Path(args.slurm_folder or Path(args.out) / ".slurm")
        jobs = grid.submit(specs, folder, "slurm", args.slurm_partition, args.slurm_time, args.slurm_gpus,
                           args.slurm_cpus, args.slurm_mem_gb, args.slurm_parallel)
        print(f"submitted {len(jobs)} array task(s)" + (f", job {jobs[0].job_id.split('_')[0]}" if jobs else "")
              + f"; logs in {folder}")
        return 0
    report = grid.run_local(specs)
    for entry in report:
        print(f"  {entry['outcome']:<8}  {entry['run_dir']}")
    failed = [e for e in report if e["outcome"] == "failed"]
    if failed:
        raise HarnessError(f"{len(failed)} of {len(report)} run(s) failed:\n  "
                           + "\n  ".join(f"{e['run_dir']}: {e['error']}" for e in failed))
    return 0
