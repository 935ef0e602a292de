"""Figures of `harness data describe`: histograms, a box plot per domain, a correlation heatmap.

matplotlib with the Agg backend (no display needed); every file is written atomically.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.io import atomic_path
from harness.tasks import TaskSpec

# The per-image statistics that describe.py computes and these plots draw: those on a 0..1 scale (box
# plots share one axis) and the geometric ones. Here, below describe.py, so both read one list.
INTENSITY_STATS = ["mean_r", "mean_g", "mean_b", "std_r", "std_g", "std_b", "brightness", "saturation", "contrast"]
GEOMETRY_STATS = ["width", "height", "aspect"]
STATS = GEOMETRY_STATS + INTENSITY_STATS


def _pyplot():
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def plot_histograms(df: pd.DataFrame, path: Path, columns: list[str]) -> Path:
    """One panel per statistic; one step histogram per (domain, split), densities so sizes compare."""
    plt = _pyplot()
    ncols = 4
    nrows = -(-len(columns) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3 * nrows), squeeze=False)
    groups = list(df.groupby(["domain", "split"], sort=False))
    for ax, col in zip(axes.flat, columns):
        values = df[col].astype(float)
        lo, hi = float(values.min()), float(values.max())
        ax.set_title(col)
        if not hi > lo:  # a histogram of one value says nothing: name the value instead
            ax.text(0.5, 0.5, f"every image: {lo:g}", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        bins = np.linspace(lo, hi, 31)
        for (domain, split), part in groups:
            ax.hist(part[col].astype(float), bins=bins, histtype="step", density=True,
                    linestyle="-" if split == "train" else "--", label=f"{domain} {split}")
    for ax in list(axes.flat)[len(columns):]:
        ax.axis("off")
    handles, labels = next((ax.get_legend_handles_labels() for ax in axes.flat if ax.get_legend_handles_labels()[0]),
                           ([], []))
    fig.legend(handles, labels, loc="lower right", fontsize=8)
    fig.suptitle("per-image statistics, density per domain and split (solid: train, dashed: test)")
    fig.tight_layout()
    return _save(fig, path)


def plot_box_domain(df: pd.DataFrame, domain: str, path: Path, columns: list[str]) -> Path:
    """Box plot of the 0..1 statistics of one domain, train and test side by side."""
    plt = _pyplot()
    part = df[df["domain"] == domain]
    fig, ax = plt.subplots(figsize=(1.1 * len(columns) + 2, 4))
    for offset, split, colour in ((-0.18, "train", "tab:blue"), (0.18, "test", "tab:orange")):
        sub = part[part["split"] == split]
        if sub.empty:
            continue
        ax.boxplot([sub[c].astype(float) for c in columns], positions=np.arange(len(columns)) + offset,
                   widths=0.3, patch_artist=True, boxprops={"facecolor": colour, "alpha": 0.5},
                   flierprops={"markersize": 2})
        ax.plot([], [], color=colour, label=f"{split} (n={len(sub)})")
    ax.set_xticks(np.arange(len(columns)))
    ax.set_xticklabels(columns, rotation=30)
    ax.set_ylim(0, 1)
    ax.set_title(f"domain {domain}")
    ax.legend()
    return _save(fig, path)


def plot_correlation(df: pd.DataFrame, path: Path, columns: list[str]) -> Path:
    """Pearson correlation heatmap of the per-image statistics over all images."""
    plt = _pyplot()
    corr = df[columns].astype(float).corr().fillna(0.0)
    fig, ax = plt.subplots(figsize=(0.6 * len(columns) + 2, 0.6 * len(columns) + 1))
    im = ax.imshow(corr.to_numpy(), vmin=-1, vmax=1, cmap="coolwarm")
    ax.set_xticks(range(len(columns)))
    ax.set_xticklabels(columns, rotation=60, ha="right")
    ax.set_yticks(range(len(columns)))
    ax.set_yticklabels(columns)
    for i in range(len(columns)):
        for j in range(len(columns)):
            ax.text(j, i, f"{corr.iat[i, j]:.2f}", ha="center", va="center", fontsize=6)
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title("correlation of per-image statistics")
    return _save(fig, path)


def plot_all(df: pd.DataFrame, out: Path, task: TaskSpec) -> list[Path]:
    files = [plot_histograms(df, out / "histograms.png", STATS + ["bytes"])]
    for domain in df["domain"].unique():
        files.append(plot_box_domain(df, domain, out / f"boxplot_{domain}.png", INTENSITY_STATS))
    files.append(plot_correlation(df, out / "correlation.png", STATS + ["bytes"]))
    return files
