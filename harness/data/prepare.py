"""The data stage of the pipeline: find a task's data, check it, list it and split it.

Data root resolution order: `--data-root`, the `HARNESS_DATA_ROOT` environment variable,
`../shared/data` beside the checkout (or the working directory), then an error that says
where the data comes from. A data root may be the parent of the task's folder or the
task's folder itself.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from harness.data.demo import ensure_demo_data
from harness.data.layouts import Listing, check_headers, read_aligned, read_cyclegan, read_webcam
from harness.data.manifest import Manifest, build_manifest
from harness.data.splits import Split, make_split
from harness.errors import HarnessError
from harness.tasks import TaskSpec

ENV_DATA_ROOT = "HARNESS_DATA_ROOT"
TEST_ONLY_RULE = "test images only"
_LAYOUT_MARKERS = ("trainA", "A", "train", "training", "val", "testA")


@dataclass(frozen=True)
class PreparedData:
    task: TaskSpec
    root: Path
    manifest: Manifest
    split: Split

    def record(self) -> dict:
        """What a result file says about the data."""
        return {"root": str(self.root), "manifest_digest": self.manifest.digest,
                "expected_manifest_digest": self.task.source.manifest_digest,
                "manifest_files": self.manifest.n_files, "manifest_bytes": self.manifest.total_bytes,
                "split_rule": self.split.rule, "split_digest": self.split.digest, "counts": self.split.counts()}


def default_data_roots() -> list[Path]:
    here = Path(__file__).resolve().parents[2]
    roots = [here.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    return list(dict.fromkeys(roots))


def resolve_data_root(task: TaskSpec, data_root: Optional[str | os.PathLike[str]] = None) -> Path:
    """Find the folder that holds `task`'s data, or say where to get it."""
    if task.layout == "demo" and data_root is None:
        return ensure_demo_data()
    if data_root is not None:
        bases, origin = [Path(data_root)], "--data-root"
        if not Path(data_root).is_dir():
            raise HarnessError(f"--data-root {data_root} is not a folder")
    elif os.environ.get(ENV_DATA_ROOT):
        bases, origin = [Path(os.environ[ENV_DATA_ROOT])], f"${ENV_DATA_ROOT}"
    else:
        bases, origin = default_data_roots(), "the default data roots"
    folder = task.source.folder or task.name
    for base in bases:
        for candidate in (base / folder, base):
            if candidate.is_dir() and any((candidate / m).is_dir() for m in _LAYOUT_MARKERS):
                return candidate
    where = ", ".join(str(b) for b in bases)
    how = [f"  - {task.source.instructions}"] if task.source.instructions else []
    if task.source.url:
        how.append(f"  - download: {task.source.url}")
    if task.source.huggingface:
        how.append(f"  - Hugging Face datasets: {task.source.huggingface}")
    raise HarnessError(
        f"no data for task {task.name!r}: looked for {folder}/ in {where} ({origin}).\n"
        f"Put the data in <data root>/{folder}/ and pass --data-root <data root> or set ${ENV_DATA_ROOT}.\n"
        + "\n".join(how))


def list_images(task: TaskSpec, root: Path, test_only: bool = False) -> Listing:
    if task.layout == "cyclegan":
        return read_cyclegan(root)
    if task.layout in ("aligned", "demo"):
        return read_aligned(root, test_only=test_only)
    if task.layout == "webcam":
        return read_webcam(root, task.domains)
    raise HarnessError(f"task {task.name!r} has unknown layout {task.layout!r}")


def prepare_data(task: TaskSpec, data_root: Optional[str | os.PathLike[str]] = None,
                 check_images: bool = True, for_evaluation: bool = False) -> PreparedData:
    """Resolve, list, header-check, hash and split a task's data.

    `for_evaluation`: an official-split copy holding only its test images (e.g. Cityscapes `val/`
    alone) is accepted; its split has no training images (`Split.rule` says so) and its digest is
    not the training run's, so callers compare the test part (`test_lines_match`)."""
    root = resolve_data_root(task, data_root)
    listing = list_images(task, root, test_only=for_evaluation)
    if check_images:
        check_headers(listing)
    if for_evaluation and task.split.kind == "official" and "train" not in listing and "test" in listing:
        split = Split(root, {"A": [], "B": []}, listing["test"], f"{TEST_ONLY_RULE} ({task.split.kind})")
    else:
        split = make_split(root, listing, task.split)
    manifest = build_manifest(root)
    return PreparedData(task, root, manifest, split)


def test_lines_match(split: Split, recorded_lines: list[str]) -> bool:
    """True when `split`'s test part lists exactly the test lines of a recorded split.json."""
    mine = [line for line in split.lines() if line.startswith("test\t")]
    return mine == [line for line in recorded_lines if line.startswith("test\t")]
