"""`harness data describe` and the pre-training sanity check on generated images."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.data.describe import (compare_splits, describe_task, find_duplicates, image_stats, sanity_check, smd,
                                   zscore_outliers)
from harness.tasks import SourceSpec, TaskSpec

BLUE = (51, 102, 204)
ORANGE = (255, 153, 0)


def _task(folder: str = "tiny") -> TaskSpec:
    return TaskSpec(name="tiny", description="generated", version=1, domains=("blue", "orange"), layout="cyclegan",
                    source=SourceSpec(folder=folder))


def _solid(path: Path, colour, size=(16, 12)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def _tree(root: Path, test_b_colour=ORANGE) -> Path:
    data = root / "tiny"
    for i in range(20):
        _solid(data / "trainA" / f"a{i:02d}.png", (250, 250, 250) if i == 7 else BLUE)
        _solid(data / "trainB" / f"b{i:02d}.png", ORANGE)
    for i in range(5):
        _solid(data / "testA" / f"ta{i}.png", BLUE)
        _solid(data / "testB" / f"tb{i}.png", test_b_colour)
    return data


def test_constant_colour_statistics_are_exact():
    s = image_stats(Image.new("RGB", (16, 12), BLUE))
    assert (s["width"], s["height"]) == (16, 12) and s["aspect"] == pytest.approx(16 / 12)
    assert s["mean_r"] == pytest.approx(0.2, abs=1e-12) and s["mean_g"] == pytest.approx(0.4, abs=1e-12)
    assert s["mean_b"] == pytest.approx(0.8, abs=1e-12)
    assert s["std_r"] == s["std_g"] == s["std_b"] == s["contrast"] == 0.0
    assert s["brightness"] == pytest.approx((0.299 * 51 + 0.587 * 102 + 0.114 * 204) / 255, abs=1e-12)
    assert s["saturation"] == pytest.approx((204 - 51) / 204, abs=1e-12)
    assert image_stats(Image.new("RGB", (4, 4), (0, 0, 0)))["saturation"] == 0.0


def test_half_black_half_white_std_and_contrast():
    arr = np.zeros((8, 8, 3), np.uint8)
    arr[:, 4:] = 255
    s = image_stats(Image.fromarray(arr))
    assert s["mean_r"] == pytest.approx(0.5) and s["std_g"] == pytest.approx(0.5)
    assert s["contrast"] == pytest.approx(0.5) and s["saturation"] == 0.0


def test_smd_and_outlier_helpers():
    assert smd(np.array([1.0, 1.0]), np.array([1.0, 1.0])) == 0.0
    assert smd(np.array([0.0, 0.0]), np.array([1.0, 1.0])) == float("inf")
    assert smd(np.array([0.0, 2.0]), np.array([2.0, 4.0])) == pytest.approx(2.0)


def test_describe_writes_report_with_exact_stats_outlier_and_leak(tmp_path):
    data = _tree(tmp_path)
    shutil.copy(data / "trainA" / "a00.png", data / "testA" / "leak.png")  # the same pixels in train and test
    out = tmp_path / "report"
    report = describe_task(_task(), out, data_root=tmp_path, progress=False)
    assert report.n_images == 20 + 20 + 6 + 5
    for name in ("report.md", "stats.csv", "histograms.png", "boxplot_blue.png", "boxplot_orange.png",
                 "correlation.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "histograms.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (out / "report.md").read_text()
    assert "## Outliers" in text and "a07.png" in text and "leak.png" in text
    import pandas as pd
    df = pd.read_csv(out / "stats.csv")
    orange = df[df["domain"] == "orange"]
    assert len(orange) == 25 and (orange["mean_g"] == 0.6).all() and (orange["saturation"] == 1.0).all()
    assert df.loc[df["grayscale"], "file"].tolist() == ["trainA/a07.png"]  # paths relative to the data folder
    outliers = zscore_outliers(df, 3.5)
    assert set(outliers["file"].map(lambda f: Path(f).name)) == {"a07.png"}
    # One image against 25 equal ones (n = 26): |z| = sqrt(n - 1) for every statistic that differs.
    assert outliers["z"].abs().max() == pytest.approx(5.0)
    # Constant images of one colour are pixel-identical: one group per colour, across splits.
    dups = find_duplicates(df)
    assert sorted(dups["count"]) == [25, 25] and dups["cross_split"].all() and not dups["cross_domain"].any()
    assert any("both train and test" in p for p in report.problems)


def test_duplicates_find_a_train_test_leak():
    import pandas as pd
    rng = np.random.default_rng(1)
    rows = [{"file": f"{split}/{i}.png", "split": split, "domain": "d", "pixel_sha256": f"{rng.integers(1 << 62):x}"}
            for split in ("train", "test") for i in range(10)]
    rows.append({**rows[3], "file": "test/leak.png", "split": "test"})
    dups = find_duplicates(pd.DataFrame(rows))
    assert len(dups) == 1 and dups.iloc[0]["cross_split"] and dups.iloc[0]["files"] == "test/leak.png, train/3.png"


def test_sanity_check_passes_clean_data(tmp_path):
    _tree(tmp_path)
    report = sanity_check(_task(), data_root=tmp_path)
    assert report.ok, report.problems
    assert len(report.stats) == 50


def test_sanity_check_flags_wildly_different_test_split(tmp_path):
    _tree(tmp_path, test_b_colour=(0, 0, 0))
    report = sanity_check(_task(), data_root=tmp_path)
    assert not report.ok
    assert any("domain orange" in p and "SMD" in p for p in report.problems)
    assert not any("domain blue" in p for p in report.problems)
    cmp = compare_splits(report.stats)
    assert set(cmp["domain"]) == {"blue", "orange"}


def test_sanity_check_flags_empty_and_unreadable(tmp_path):
    data = _tree(tmp_path)
    (data / "trainA" / "broken.png").write_bytes(b"not a png")
    report = sanity_check(_task(), data_root=tmp_path)
    assert any("broken.png" in p for p in report.problems)
    for f in (data / "testB").iterdir():
        f.unlink()
    report = sanity_check(_task(), data_root=tmp_path)
    assert any("testB" in p and "no images" in p for p in report.problems)


def test_cli_describe(tmp_path, capsys):
    from harness.cli import main
    data = _tree(tmp_path)
    data.rename(tmp_path / "horse2zebra")
    out = tmp_path / "out"
    assert main(["data", "describe", "--task", "horse2zebra", "--data-root", str(tmp_path), "--out", str(out)]) == 0
    assert "report" in capsys.readouterr().out
    text = (out / "report.md").read_text()
    assert "horse" in text and "zebra" in text and (out / "boxplot_zebra.png").exists()


def test_sanity_check_on_real_horse2zebra():
    from conftest import shared_data
    root = shared_data("horse2zebra").parent
    from harness.registry import TASKS
    report = sanity_check(TASKS.get("horse2zebra"), data_root=root, max_images=25)
    assert report.ok, report.problems
    assert len(report.stats) == 100 and set(report.stats["domain"]) == {"horse", "zebra"}
