"""The day2night builder on a tiny generated BDD100K-like tree."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.data.bdd100k import build_day2night, crop_resize
from harness.data.manifest import build_manifest
from harness.data.prepare import prepare_data
from harness.errors import HarnessError
from harness.registry import TASKS


def _frame(path: Path, w: int = 64, h: int = 36) -> None:
    """Red left margin, green centred square, blue right margin: the centre crop is all green."""
    arr = np.zeros((h, w, 3), np.uint8)
    left = (w - h) // 2
    arr[:, :left] = (255, 0, 0)
    arr[:, left:left + h] = (0, 255, 0)
    arr[:, left + h:] = (0, 0, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, quality=95)


def _bdd(tmp_path: Path) -> tuple[Path, list[Path]]:
    root = tmp_path / "bdd100k" / "images" / "100k"
    labels_dir = tmp_path / "bdd100k" / "labels"
    labels_dir.mkdir(parents=True)
    plan = {"train": ["daytime"] * 12 + ["night"] * 14 + ["dawn/dusk"] * 3 + ["undefined"] * 2,
            "val": ["daytime"] * 3 + ["night"] * 3}
    files = []
    for split, times in plan.items():
        frames = []
        for i, tod in enumerate(times):
            name = f"{split}-{i:04d}.jpg"
            if not (split == "val" and i == 0):  # one labelled frame has no image
                _frame(root / split / name)
            frames.append({"name": name, "attributes": {"weather": "clear", "scene": "city street", "timeofday": tod},
                           "labels": []})
        path = labels_dir / f"bdd100k_labels_images_{split}.json"
        path.write_text(json.dumps(frames))
        files.append(path)
    return root, files


def test_center_crop_and_resize(tmp_path):
    _frame(tmp_path / "f.jpg")
    arr = np.asarray(crop_resize(tmp_path / "f.jpg", 16), dtype=float)
    assert arr.shape == (16, 16, 3)
    assert arr[..., 1].mean() > 240 and arr[..., 0].mean() < 15 and arr[..., 2].mean() < 15
    full = np.asarray(crop_resize(tmp_path / "f.jpg", 16, crop="none"), dtype=float)
    assert full[:, 0, 0].mean() > 200  # the whole frame keeps the red margin


def test_build_selects_by_timeofday_and_feeds_the_day2night_task(tmp_path):
    bdd, labels = _bdd(tmp_path)
    out = tmp_path / "data" / "day2night"
    record = build_day2night(bdd, labels, out, n_day=10, n_night=None, size=24, progress=False)
    # day: 12 + 3 labelled, 1 (val-0000) has no image -> 14 candidates, 10 drawn; night: all 17
    assert record["candidates_A"] == 14 and record["missing_images"] == 1
    assert record["counts"] == {"A": 10, "B": 17}
    assert record["excluded_timeofday"] == {"dawn/dusk": 3, "undefined": 2}
    day = sorted(p.name for p in (out / "A").iterdir())
    assert len(day) == 10 and all(Image.open(out / "A" / n).size == (24, 24) for n in day)
    night = {p.stem for p in (out / "B").iterdir()}
    assert night == {f"train-{i:04d}" for i in range(12, 26)} | {f"val-{i:04d}" for i in range(3, 6)}
    assert record["manifest_digest"] == build_manifest(out).digest  # hidden records stay out of the manifest
    assert json.loads((out / ".build.json").read_text())["selected"]["A"] == sorted(record["selected"]["A"])
    # The spine's day2night task reads it: flat A/ B/ with the paper's seeded 80/20 split.
    prepared = prepare_data(TASKS.get("day2night"), tmp_path / "data")
    assert prepared.split.counts() == {"trainA": 8, "trainB": 14, "testA": 2, "testB": 3}
    # Same seed, same selection; another seed, another one.
    again = build_day2night(bdd, labels, tmp_path / "again", n_day=10, n_night=None, size=24, progress=False)
    other = build_day2night(bdd, labels, tmp_path / "other", n_day=10, n_night=None, size=24, seed=1, progress=False)
    assert again["selected"] == record["selected"] and other["selected"]["A"] != record["selected"]["A"]


def test_build_refuses_bad_input(tmp_path):
    bdd, labels = _bdd(tmp_path)
    with pytest.raises(HarnessError, match="not empty"):
        (tmp_path / "full").mkdir()
        (tmp_path / "full" / "x").write_text("x")
        build_day2night(bdd, labels, tmp_path / "full", progress=False)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(HarnessError, match="bad.json"):
        build_day2night(bdd, [tmp_path / "bad.json"], tmp_path / "o", progress=False)
    with pytest.raises(HarnessError, match="no day images"):
        build_day2night(tmp_path / "bdd100k" / "labels", labels, tmp_path / "o2", progress=False)
    assert not (tmp_path / "o2").exists()


def test_cli_build_day2night(tmp_path, capsys):
    from harness.cli import main
    bdd, labels = _bdd(tmp_path)
    argv = ["data", "build-day2night", "--bdd-root", str(bdd), "--out", str(tmp_path / "d2n"), "--size", "16"]
    for path in labels:
        argv += ["--labels", str(path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "14 day and 17 night" in out  # fewer candidates than the paper's counts: all are used
    assert "fewer candidates" in json.loads((tmp_path / "d2n" / ".build.json").read_text())["warning"]
