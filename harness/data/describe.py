"""Describe a task's images: per-domain, per-split statistics, figures, outliers, duplicates, checks.

Usage:
    harness data describe --task horse2zebra --out /tmp/describe-h2z [--data-root D] [--z 3.5]

The report folder gets `report.md` (markdown tables), `stats.csv` (one row per image),
`histograms.png`, `boxplot_<domain>.png`, `correlation.png`. Per image: width, height, aspect
ratio (w/h), file bytes, per-channel mean and std, brightness (mean Rec. 601 luma), saturation
(mean HSV saturation, (max-min)/max, 0 for black pixels) and contrast (std of luma, RMS
contrast); all intensities on a 0..1 scale. Outliers are images whose |z| (per domain, over
both splits, population std) exceeds the threshold for some statistic. Duplicates share the
sha256 of their decoded pixels; a duplicate across train and test is a leak. Train and test of
each domain are compared by the standardised mean difference (SMD, mean difference over the
pooled std) and a two-sample Kolmogorov-Smirnov test.

`sanity_check(task)` uses the same statistics on a sample of images before training: a domain
that is empty, has unreadable images, or whose train and test splits are wildly different
(|SMD| above `max_smd`) is reported in `SanityReport.problems`.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
import pandas as pd

from harness.data.datasets import load_image
from harness.data.layouts import ImageRef, read_size
from harness.data.prepare import list_images, resolve_data_root
from harness.data.splits import make_split
from harness.errors import HarnessError
from harness.io import write_text
from harness.data.describe_plots import INTENSITY_STATS, STATS
from harness.tasks import TaskSpec


LUMA_THOUSANDTHS = np.array([299, 587, 114], dtype=np.int64)  # Rec. 601 luma


_LEVELS = np.arange(256, dtype=np.int64)
# HSV saturation (max - min) / max for every (max, min) pair of 8-bit values, 0 for black.
_MX, _MN = np.divmod(np.arange(256 * 256), 256)
_SATURATION = np.divide(_MX - _MN, _MX, out=np.zeros(256 * 256), where=_MX > 0)


def _mean_std(total: int, squares: int, n: int, scale: int) -> tuple[float, float]:
    # Exact integer variance numerator n*sum(x^2) - sum(x)^2: constant images give exactly 0.
    return total / (n * scale), math.sqrt(n * squares - total * total) / (n * scale)


def image_stats(img) -> dict:
    """Statistics of one RGB PIL image (see the module docstring for definitions).

    Means and stds come from exact integer sums (8-bit histograms; luma as 299R+587G+114B in
    thousandths), so a constant image gives exactly its colour and zero spread, whatever its size.
    """
    arr = np.asarray(img.convert("RGB"))
    h, w = arr.shape[:2]
    n = h * w
    out: dict = {"width": w, "height": h, "aspect": w / h}
    for i, name in enumerate("rgb"):
        hist = np.bincount(arr[..., i].ravel(), minlength=256)
        out[f"mean_{name}"], out[f"std_{name}"] = _mean_std(int(hist @ _LEVELS), int(hist @ (_LEVELS * _LEVELS)),
                                                             n, 255)
    r, g, b = arr[..., 0], arr[..., 1], arr[..., 2]
    mx, mn = np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)  # faster than max(axis=2)
    pairs = np.bincount((mx.astype(np.int64) * 256 + mn).ravel(), minlength=256 * 256)
    used = np.nonzero(pairs)[0]
    out["saturation"] = math.fsum((pairs[used] / n) * _SATURATION[used])
    luma = (r * np.int64(299) + g * np.int64(587) + b * np.int64(114)).ravel()
    out["brightness"], out["contrast"] = _mean_std(int(luma.sum()), int(luma @ luma), n, 255_000)
    return {k: out[k] for k in STATS}


def pixel_hash(img) -> str:
    img = img.convert("RGB")
    return hashlib.sha256(f"{img.size}".encode() + img.tobytes()).hexdigest()


def split_refs(task: TaskSpec, data_root=None) -> tuple[Path, dict[str, dict[str, list[ImageRef]]]]:
    """The task's train/test refs per side, by the task's own split rule."""
    root = resolve_data_root(task, data_root)
    split = make_split(root, list_images(task, root), task.split)
    return root, {"train": split.train, "test": split.test}


def collect_stats(task: TaskSpec, refs: dict[str, dict[str, list[ImageRef]]], progress: bool = True,
                  root: Optional[Path] = None) -> tuple[pd.DataFrame, list[str]]:
    """One row per image (split, side, domain, id, file, bytes, hash, statistics) and unreadable files.

    `file` is relative to `root` when given (shorter tables), else the full path.
    """
    from tqdm import tqdm
    jobs = [(split, side, ref) for split, sides in refs.items() for side, rs in sides.items() for ref in rs]
    rows, unreadable = [], []
    for split, side, ref in tqdm(jobs, desc=f"describing {task.name}", unit="img", disable=not progress or None):
        try:
            img = load_image(ref)
        except HarnessError as exc:
            unreadable.append(str(exc))
            continue
        name = ref.path.relative_to(root).as_posix() if root is not None else str(ref.path)
        if ref.half is not None:
            name += f"#{ref.half}"
        row = {"split": split, "side": side, "domain": task.domain(side), "id": ref.id, "file": name,
               "bytes": ref.path.stat().st_size, "pixel_sha256": pixel_hash(img)}
        row.update(image_stats(img))
        row["grayscale"] = row["saturation"] == 0.0  # every pixel has R = G = B
        rows.append(row)
    columns = ["split", "side", "domain", "id", "file", "bytes", "pixel_sha256", *STATS, "grayscale"]
    return pd.DataFrame(rows, columns=columns), unreadable


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Per domain and split: count, size range, and the mean of every statistic."""
    groups = df.groupby(["domain", "split"], sort=False)
    out = groups[INTENSITY_STATS + ["aspect", "bytes"]].mean()
    out.insert(0, "count", groups.size())
    out.insert(1, "grayscale", groups["grayscale"].sum().astype(int))
    for col in ("width", "height"):
        out[f"{col}_min"], out[f"{col}_max"] = groups[col].min(), groups[col].max()
    return out


def zscore_outliers(df: pd.DataFrame, threshold: float = 3.5, columns: Iterable[str] = STATS) -> pd.DataFrame:
    """Rows (file, domain, split, stat, value, z) with |z| > threshold, z per domain over both splits."""
    found = []
    for domain, part in df.groupby("domain", sort=False):
        for col in columns:
            values = part[col].astype(float)
            std = values.std(ddof=0)
            if not std > 0:
                continue  # every image equal: nothing stands out
            z = (values - values.mean()) / std
            for idx in z[z.abs() > threshold].index:
                found.append({"file": part.at[idx, "file"], "domain": domain, "split": part.at[idx, "split"],
                              "stat": col, "value": float(values[idx]), "z": float(z[idx])})
    out = pd.DataFrame(found, columns=["file", "domain", "split", "stat", "value", "z"])
    return out.reindex(out["z"].abs().sort_values(ascending=False).index).reset_index(drop=True)


def find_duplicates(df: pd.DataFrame) -> pd.DataFrame:
    """Groups of images with identical pixels: hash, count, whether they cross splits or domains, files."""
    rows = []
    for digest, part in df.groupby("pixel_sha256", sort=True):
        if len(part) > 1:
            rows.append({"pixel_sha256": digest[:16], "count": len(part),
                         "cross_split": part["split"].nunique() > 1, "cross_domain": part["domain"].nunique() > 1,
                         "files": ", ".join(sorted(part["file"]))})
    return pd.DataFrame(rows, columns=["pixel_sha256", "count", "cross_split", "cross_domain", "files"])


def smd(a: np.ndarray, b: np.ndarray) -> float:
    """Standardised mean difference (b - a) / pooled population std; inf when constant but different."""
    diff = float(np.mean(b) - np.mean(a))
    pooled = math.sqrt((np.var(a) + np.var(b)) / 2)
    if pooled == 0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return diff / pooled


def compare_splits(df: pd.DataFrame, columns: Iterable[str] = ("aspect", *INTENSITY_STATS)) -> pd.DataFrame:
    """Per domain and statistic: train mean, test mean, SMD and the KS test's p-value."""
    from scipy.stats import ks_2samp
    rows = []
    for domain, part in df.groupby("domain", sort=False):
        train, test = part[part["split"] == "train"], part[part["split"] == "test"]
        if train.empty or test.empty:
            continue
        for col in columns:
            a, b = train[col].to_numpy(float), test[col].to_numpy(float)
            p = float(ks_2samp(a, b).pvalue) if len(a) > 1 and len(b) > 1 else float("nan")
            rows.append({"domain": domain, "stat": col, "train_mean": a.mean(), "test_mean": b.mean(),
                         "smd": smd(a, b), "ks_p": p})
    return pd.DataFrame(rows, columns=["domain", "stat", "train_mean", "test_mean", "smd", "ks_p"])


@dataclass
class SanityReport:
    """What `sanity_check` found; `ok` is True when nothing would spoil a training run."""

    task: str
    problems: list[str] = field(default_factory=list)
    stats: Optional[pd.DataFrame] = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _every_kth(refs: list[ImageRef], n: Optional[int]) -> list[ImageRef]:
    if n is None or len(refs) <= n:
        return refs
    step = len(refs) / n
    return [refs[int(i * step)] for i in range(n)]


def sanity_check(task: TaskSpec, data_root=None, max_images: Optional[int] = 200,
                 max_smd: float = 2.0, progress: bool = False) -> SanityReport:
    """Check a task's data before training: empty or unreadable domains, wildly different train/test.

    Headers of every image are read; statistics come from up to `max_images` evenly spaced images
    per domain and split. Never raises for data problems: they are listed in the report.
    """
    report = SanityReport(task.name)
    try:
        _, refs = split_refs(task, data_root)
    except HarnessError as exc:
        report.problems.append(f"cannot list the data: {exc}")
        return report
    for split, sides in refs.items():
        for side, rs in sides.items():
            if not rs:
                report.problems.append(f"domain {task.domain(side)} ({side}) has no {split} images")
            for ref in rs:
                try:
                    read_size(ref.path)
                except HarnessError as exc:
                    report.problems.append(str(exc))
    sample = {split: {side: _every_kth(rs, max_images) for side, rs in sides.items()} for split, sides in refs.items()}
    df, unreadable = collect_stats(task, sample, progress=progress)
    report.problems += [p for p in unreadable if p not in report.problems]
    report.stats = df
    for row in compare_splits(df).itertuples():
        if abs(row.smd) > max_smd:
            report.problems.append(
                f"domain {row.domain}: train and test differ in {row.stat} (train mean {row.train_mean:.3f}, "
                f"test mean {row.test_mean:.3f}, SMD {row.smd:+.2f} > {max_smd})")
    return report


@dataclass
class DescribeReport:
    out: Path
    n_images: int
    problems: list[str]
    files: list[Path]


def _md(df: pd.DataFrame, index: bool = True, floatfmt: str = ".4g") -> str:
    if df.empty:
        return "(none)\n"
    return df.to_markdown(index=index, floatfmt=floatfmt) + "\n"


def describe_task(task: TaskSpec, out: Path, data_root=None, z_threshold: float = 3.5,
                  max_smd: float = 2.0, progress: bool = True) -> DescribeReport:
    """Compute every statistic of a task's images and write the report folder `out`."""
    from harness.data.describe_plots import plot_all  # matplotlib only when plots are asked for
    out = Path(out)
    root, refs = split_refs(task, data_root)
    df, unreadable = collect_stats(task, refs, progress=progress, root=root)
    if df.empty:
        raise HarnessError(f"no readable images for task {task.name!r} under {root}")
    summary = summarize(df)
    outliers = zscore_outliers(df, z_threshold)
    dups = find_duplicates(df)
    comparison = compare_splits(df)
    problems = list(unreadable)
    problems += [f"domain {r.domain}: train and test differ in {r.stat} (SMD {r.smd:+.2f})"
                 for r in comparison.itertuples() if abs(r.smd) > max_smd]
    n_leaks = int(dups["cross_split"].sum()) if not dups.empty else 0
    if n_leaks:
        problems.append(f"{n_leaks} group(s) of identical images appear in both train and test")
    out.mkdir(parents=True, exist_ok=True)
    figures = plot_all(df, out, task)
    csv_path = out / "stats.csv"
    write_text(csv_path, df.to_csv(index=False))
    corr = df[STATS + ["bytes"]].corr()
    text = [f"# Data description: {task.name}\n", f"Data root: `{root}`; split rule: `{task.split.kind}`; "
            f"{len(df)} images read, {len(unreadable)} unreadable.\n",
            "## Summary per domain and split\n", "grayscale: images with R = G = B everywhere.\n",
            _md(summary.set_axis([f"{d}/{s}" for d, s in summary.index]).T),
            "## Train vs test per domain\n", "SMD: (test mean − train mean) / pooled std; |SMD| > "
            f"{max_smd} is flagged. ks_p: two-sample Kolmogorov–Smirnov p-value.\n",
            _md(comparison, index=False),
            f"## Outliers (|z| > {z_threshold}, per domain)\n", _md(outliers.head(200), index=False),
            f"{len(outliers)} outlier rows in all ({outliers['file'].nunique() if len(outliers) else 0} files).\n",
            "## Duplicates (identical decoded pixels)\n", _md(dups, index=False),
            "## Correlation of per-image statistics (Pearson)\n", _md(corr, floatfmt=".2f"),
            "## Problems\n", "".join(f"- {p}\n" for p in problems) or "(none)\n",
            "## Figures\n", "".join(f"![{f.stem}]({f.name})\n" for f in figures)]
    write_text(out / "report.md", "\n".join(text))
    return DescribeReport(out, len(df), problems, [out / "report.md", csv_path, *figures])
