"""`harness data VERB`: verify, download, describe, build-day2night, from-huggingface.

    harness data verify --task horse2zebra               # hash the data, compare with the expected digest
    harness data download horse2zebra [--data-root D]    # official archive: resumable, extracted, verified
    harness data describe --task horse2zebra --out DIR   # statistics, figures and checks (report.md)
    harness data build-day2night --bdd-root B --labels L.json [--labels ...] --out D
    harness data from-huggingface huggan/horse2zebra --out D [--revision R]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from harness.registry import TASKS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="data tools: verify, download, describe, build-day2night, from-huggingface")
    verbs = p.add_subparsers(dest="data_command", required=True, metavar="VERB")
    v = verbs.add_parser("verify", help="hash a task's data and compare with its expected manifest digest")
    v.add_argument("--task", required=True, help="a registered task (harness list tasks)")
    v.add_argument("--data-root", default=None, help="folder holding the task's data folder")
    v.set_defaults(handler=handle_verify)

    d = verbs.add_parser("download", help="download an official CycleGAN/pix2pix archive, extract and verify it")
    d.add_argument("dataset", nargs="?", help="data set: horse2zebra, pix2pix/facades, ... (see sources.yaml)")
    d.add_argument("--task", default=None, help="download the data set this task names")
    d.add_argument("--data-root", default=None, help="where to put it (default: $HARNESS_DATA_ROOT or ../shared/data)")
    d.add_argument("--keep-archive", action="store_true", help="keep the archive in <data root>/.downloads")
    d.add_argument("--timeout", type=float, default=60.0, help="seconds without data before a try fails")
    d.set_defaults(handler=handle_download)

    s = verbs.add_parser("describe", help="per-domain, per-split image statistics, figures and checks")
    s.add_argument("--task", required=True, help="a registered task (harness list tasks)")
    s.add_argument("--data-root", default=None, help="folder holding the task's data folder")
    s.add_argument("--out", default=None, help="report folder (default: ./describe-<task>)")
    s.add_argument("--z", type=float, default=3.5, help="|z-score| above which an image is an outlier")
    s.set_defaults(handler=handle_describe)

    b = verbs.add_parser("build-day2night", help="build the paper's day2night (A/ day, B/ night) from BDD100K")
    b.add_argument("--bdd-root", required=True, help="folder holding the BDD100K images (searched recursively)")
    b.add_argument("--labels", required=True, action="append", help="BDD100K attribute label JSON (repeatable)")
    b.add_argument("--out", required=True, help="output folder (becomes <data root>/day2night)")
    b.add_argument("--n-day", type=int, default=7870, help="day images to keep (default: the paper's 7870)")
    b.add_argument("--n-night", type=int, default=8592, help="night images to keep (default: the paper's 8592)")
    b.add_argument("--size", type=int, default=256, help="side of the square output images")
    b.add_argument("--crop", choices=("center", "none"), default="center",
                   help="centred square crop before resizing, or resize the whole frame")
    b.add_argument("--seed", type=int, default=0, help="seed of the frame sample")
    b.set_defaults(handler=handle_build_day2night)

    h = verbs.add_parser("from-huggingface", help="export a Hugging Face data set to the CycleGAN layout")
    h.add_argument("dataset_id", help="e.g. huggan/horse2zebra, or a folder written by save_to_disk")
    h.add_argument("--out", required=True, help="output folder (trainA/ trainB/ testA/ testB/)")
    h.add_argument("--revision", default=None, help="Hub revision (branch, tag or commit)")
    h.set_defaults(handler=handle_huggingface)


def handle_verify(args: argparse.Namespace) -> int:
    from harness.data.prepare import prepare_data
    task = TASKS.get(args.task, where="--task")
    prepared = prepare_data(task, args.data_root)
    m, split = prepared.manifest, prepared.split
    print(f"task            {task.name}")
    print(f"root            {prepared.root}")
    print(f"files           {m.n_files} ({m.total_bytes:,} bytes)")
    for folder, n in m.counts.items():
        print(f"  {folder:<14}{n}")
    print(f"split           {split.rule}")
    for name, n in split.counts().items():
        print(f"  {name:<14}{n}")
    print(f"split digest    {split.digest}")
    print(f"manifest digest {m.digest}")
    expected = task.source.manifest_digest
    if expected is None:
        print("expected        (none recorded for this task; record the digest above once verified)")
        return 0
    if expected != m.digest:
        print(f"expected        {expected}")
        print("MISMATCH: the data differs from the release this task expects")
        return 1
    print("verified        the manifest digest matches the expected release")
    return 0


def handle_download(args: argparse.Namespace) -> int:
    from harness.data import download as dl
    from harness.data.prepare import ENV_DATA_ROOT, default_data_roots
    from harness.errors import UsageError
    import os
    if not args.dataset and not args.task:
        raise UsageError("say what to download: a data set name (e.g. horse2zebra) or --task")
    source = dl.find_source(args.dataset or TASKS.get(args.task, where="--task").name, dl.load_sources())
    if args.data_root:
        root = Path(args.data_root)
    elif os.environ.get(ENV_DATA_ROOT):
        root = Path(os.environ[ENV_DATA_ROOT])
    else:
        root = default_data_roots()[0]
    expected = TASKS.get(source.task).source.manifest_digest if source.task else None
    print(f"downloading {source.family}/{source.name} into {root}")
    result = dl.download(source, root, expected_digest=expected, keep_archive=args.keep_archive,
                         timeout=args.timeout, progress=True)
    print(f"folder          {result.folder} ({result.n_files} files)")
    print(f"manifest digest {result.digest}")
    if result.verified:
        print("verified        the manifest digest matches the expected release")
    else:
        where = f"harness/tasks/{source.task}.yaml" if source.task else "the task that uses it"
        print(f"expected        (none recorded; record the digest above as source.manifest_digest in {where})")
    return 0


def handle_describe(args: argparse.Namespace) -> int:
    import time
    from harness.data.describe import describe_task
    task = TASKS.get(args.task, where="--task")
    out = Path(args.out) if args.out else Path(f"describe-{task.name}")
    start = time.perf_counter()
    report = describe_task(task, out, data_root=args.data_root, z_threshold=args.z)
    print(f"described {report.n_images} images of {task.name} in {time.perf_counter() - start:.1f} s")
    print(f"report          {out / 'report.md'}")
    for problem in report.problems:
        print(f"WARNING         {problem}")
    return 0


def handle_build_day2night(args: argparse.Namespace) -> int:
    from harness.data.bdd100k import build_day2night
    summary = build_day2night(Path(args.bdd_root), [Path(p) for p in args.labels], Path(args.out),
                              n_day=args.n_day, n_night=args.n_night, size=args.size, crop=args.crop,
                              seed=args.seed)
    print(f"wrote {summary['counts']['A']} day and {summary['counts']['B']} night images to {args.out}")
    print(f"manifest digest {summary['manifest_digest']}")
    return 0


def handle_huggingface(args: argparse.Namespace) -> int:
    from harness.data.huggingface import export_hub_dataset
    info = export_hub_dataset(args.dataset_id, Path(args.out), revision=args.revision)
    print(f"exported {info['dataset_id']} (revision {info['revision']}) to {args.out}: {info['counts']}")
    print(f"manifest digest {info['manifest_digest']}")
    return 0
