"""`harness evaluate`: re-evaluate a run folder, score two plain folders, or write reference rows.

- `harness evaluate RUN_DIR [--inception-weights PATH]`: recompute the metrics of a finished run
  from its translations and rewrite its result.json atomically; an entry it cannot recompute
  keeps its earlier computed value. Prints one line per metric it could not compute and exits 1
  when it computed none of the metrics asked for.
- `harness evaluate RUN_DIR --set KEY=VALUE`: translate and evaluate the run's checkpoint under
  another test-time setting (an option the method marks test-time only, e.g. ASGIT's
  `test_placeholder`); recorded as a labelled entry beside the run's own metrics (`harness.retest`).
- `harness evaluate --generated DIR --reference DIR [--source DIR] [--labels DIR]`: KID, FID (and
  the FCN score with a label folder) of any codebase's images; prints JSON, exits 1 when nothing
  could be computed.
- `harness evaluate --reference-rows --task T [--out DIR]`: the `real-vs-real` row (one half of
  the real target test set against the other half), written as a result file.
"""
from __future__ import annotations

import argparse
import json
import sys

from harness.errors import UsageError


EXAMPLES = """examples:
  harness evaluate results/demo/cyclegan/demo-seed0                 re-evaluate one run folder
  harness evaluate results/horse2zebra/*/* --inception-weights W    every run of a task, with local weights
  harness evaluate --generated out/ --reference real_B/ --source real_A/
                                                                    KID/FID of any codebase's images
  harness evaluate --reference-rows --task horse2zebra              the real-vs-real row"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="compute KID / FCN score for a run, two folders, or the reference rows",
                       description="Three modes: run folders (RUN_DIR ...), plain folders (--generated with "
                                   "--reference and/or --labels), or the reference rows (--reference-rows --task).",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", nargs="*", help="run folder(s) holding result.json and translations/")
    run_opts = p.add_argument_group("run folders")
    run_opts.add_argument("--set", dest="test_settings", action="append", metavar="KEY=VALUE",
                          help="with RUN_DIR: a test-time option (e.g. test_placeholder=ones); evaluates the same "
                               "checkpoint under it and records a labelled entry beside the default one (repeatable)")
    run_opts.add_argument("--diagnostics", action="store_true",
                          help="with RUN_DIR: recompute the method's own diagnostics from the checkpoint (ASGIT's "
                               "attention probes, e.g. once a control run exists), nothing else")
    folders = p.add_argument_group("plain folders (any codebase's images)")
    folders.add_argument("--generated", help="folder of generated images (with --reference)")
    folders.add_argument("--reference", help="folder of real target-domain images (with --generated)")
    folders.add_argument("--source", help="folder of real source-domain images: adds fused-KID (with --generated)")
    folders.add_argument("--labels", help="folder of label maps (train ids or Cityscapes colours, matched by file "
                                          "stem): adds the FCN score of --generated")
    folders.add_argument("--fcn-mode", default="label2photo", choices=["label2photo", "photo2label"],
                         help="with --labels: segment generated photos (default) or read generated label colours")
    rows = p.add_argument_group("reference rows")
    rows.add_argument("--reference-rows", action="store_true", help="write the real-vs-real row of --task")
    rows.add_argument("--task", help="task for --reference-rows")
    rows.add_argument("--out", default="results", help="results folder for --reference-rows (default: results)")
    rows.add_argument("--schedule", default="paper", help="schedule whose test size --reference-rows uses")
    weights = p.add_argument_group("data and weights")
    weights.add_argument("--data-root", default=None, help="folder holding the task's data folder")
    weights.add_argument("--inception-weights", default=None, metavar="PATH",
                         help="torch-fidelity's weights-inception-2015-12-05-6726825d.pth (else "
                              "$HARNESS_INCEPTION_WEIGHTS or torch-fidelity's cache, downloaded there if missing)")
    weights.add_argument("--offline", action="store_true", help="never download metric weights (= HARNESS_OFFLINE=1)")
    weights.add_argument("--segmenter-weights", default=None, metavar="PATH", help="weights file of the segmenter")
    weights.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                         help="where to compute (default: auto = cuda if any)")
    protocol = p.add_argument_group("metric protocol (defaults are the paper's; changing them is recorded)")
    protocol.add_argument("--metrics", default=None, help="comma-separated metric families (default: the task's)")
    protocol.add_argument("--extractor", default="inception-v3-compat", help="registered feature extractor")
    protocol.add_argument("--segmenter", default="espnet-p2q8", help="registered segmenter for the FCN score")
    protocol.add_argument("--void-handling", default="exclude_void_logit",
                          choices=["exclude_void_logit", "void_is_miss"],
                          help="FCN score: how void pixels count (default: excluded)")
    protocol.add_argument("--fused-mode", default="union_balanced",
                          choices=["union_balanced", "union_proportional", "mean_of_two"],
                          help="fused-KID: how the two real sets are pooled (default: union_balanced)")
    protocol.add_argument("--kid-subsets", type=int, default=100, help="KID: number of subsets (default: 100)")
    protocol.add_argument("--kid-subset-size", type=int, default=None,
                          help="KID subset size (default: min(100, n_generated, n_reference))")
    protocol.add_argument("--kid-min-images", type=int, default=10, help="refuse KID below this many images per set")
    protocol.add_argument("--label-side", choices=["A", "B"], default=None,
                          help="which domain holds colour labels for the FCN score (default: the domain named 'label')")
    p.set_defaults(handler=handle_evaluate)


def options_from_args(args: argparse.Namespace):
    from harness.evaluation import EvalOptions, KidOptions
    try:
        kid = KidOptions(subsets=args.kid_subsets, subset_size=args.kid_subset_size, fused_mode=args.fused_mode,
                         min_images=args.kid_min_images)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip()) if args.metrics else None
    return EvalOptions(extractor=args.extractor, inception_weights=args.inception_weights, kid=kid,
                       segmenter=args.segmenter, segmenter_weights=args.segmenter_weights,
                       void_handling=args.void_handling, metrics=metrics, label_side=args.label_side,
                       device=args.device)


def handle_evaluate(args: argparse.Namespace) -> int:
    from harness.evaluation.inception import apply_offline_flag
    apply_offline_flag(args)
    options = options_from_args(args)
    modes = [bool(args.run_dir), bool(args.generated or args.reference or args.labels), bool(args.reference_rows)]
    if sum(modes) != 1:
        raise UsageError("give RUN_DIR..., or --generated DIR with --reference DIR and/or --labels DIR, "
                         "or --reference-rows --task T")
    if modes[1]:
        if not args.generated or not (args.reference or args.labels):
            raise UsageError("--generated DIR goes with --reference DIR and/or --labels DIR")
        from harness.evaluation import evaluate_folders
        from harness.evaluation.report import unavailable_lines
        out = evaluate_folders(args.generated, args.reference, options, source=args.source, labels=args.labels,
                               fcn_mode=args.fcn_mode)
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
        entries = {k: v for k, v in out.items() if isinstance(v, dict) and "status" in v}
        for line in unavailable_lines({"directions": {"folders": entries}}, mode="folders"):
            print(line, file=sys.stderr)
        return 0 if any(e["status"] == "ok" for e in entries.values()) else 1
    if args.reference_rows:
        if not args.task:
            raise UsageError("--reference-rows needs --task")
        from harness.evaluation.reference_rows import write_real_vs_real
        print(write_real_vs_real(args.task, args.out, options, args.data_root, args.schedule))
        return 0
    from pathlib import Path
    missing = [d for d in args.run_dir if not Path(d).is_dir()]
    if missing:
        raise UsageError(f"RUN_DIR {missing[0]}: no such folder" + (f" (and {len(missing) - 1} more)"
                                                                     if len(missing) > 1 else ""))
    if (args.test_settings or args.diagnostics) and not args.run_dir:
        raise UsageError("--set and --diagnostics apply to run folders: harness evaluate RUN_DIR --set KEY=VALUE")
    if args.test_settings and args.diagnostics:
        raise UsageError("--set and --diagnostics are separate jobs; run one, then the other")
    if args.test_settings:
        return _evaluate_test_settings(args, options)
    if args.diagnostics:
        from harness.retest import rediagnose
        for run_dir in args.run_dir:
            print(f"{rediagnose(run_dir, args.data_root, args.device)}: diagnostics recomputed")
        return 0
    from harness.evaluation.rerun import reevaluate
    computed_nothing = []
    for run_dir in args.run_dir:
        done = reevaluate(run_dir, options, args.data_root)
        print(f"{done.path}: {done.status} ({done.computed} of {done.asked} metric entries computed now)")
        for line in done.lines:
            print(line, file=sys.stderr)
        if not done.computed:
            computed_nothing.append(run_dir)
    if computed_nothing:
        print(f"computed nothing that was asked for in: {', '.join(computed_nothing)}", file=sys.stderr)
        return 1
    return 0


def _evaluate_test_settings(args: argparse.Namespace, options) -> int:
    from harness.config import parse_overrides
    from harness.evaluation.report import count_ok, unavailable_lines
    from harness.retest import evaluate_test_setting
    sets = parse_overrides(args.test_settings)
    computed_nothing = []
    for run_dir in args.run_dir:
        path, label, entry = evaluate_test_setting(run_dir, sets, options, args.data_root, args.device)
        computed = count_ok(entry["metrics"])
        print(f"{path}: test setting {label}: {entry['metrics']['status']} ({computed} metric entries computed; "
              f"translations in {entry['folder']})")
        for line in unavailable_lines(entry["metrics"], run_dir):
            print(line, file=sys.stderr)
        if not computed:
            computed_nothing.append(run_dir)
    if computed_nothing:
        print(f"computed no metric for the test setting in: {', '.join(computed_nothing)}", file=sys.stderr)
        return 1
    return 0
