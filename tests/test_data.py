from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import shared_data
from harness.data.layouts import read_cyclegan
from harness.data.manifest import build_manifest
from harness.data.prepare import prepare_data, resolve_data_root
from harness.data.splits import make_split
from harness.errors import HarnessError
from harness.registry import TASKS
from harness.tasks import SplitSpec

H2Z_DIGEST = "e7f47376d9250584c223cbf55d9d5494062646fa7d96472ae483f35975cdc538"


def make_cyclegan_tree(root: Path, n: dict[str, int], size: int = 16) -> Path:
    rng = np.random.default_rng(0)
    for folder, count in n.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(root / folder / f"{i}.png")
    return root


def test_horse2zebra_manifest_digest_matches_the_release():
    root = shared_data("horse2zebra")
    manifest = build_manifest(root)
    assert manifest.digest == H2Z_DIGEST
    assert manifest.counts == {"testA": 120, "testB": 140, "trainA": 1067, "trainB": 1334}


def test_manifest_recipe_agrees_with_coreutils(tmp_path):
    root = make_cyclegan_tree(tmp_path / "d", {"trainA": 2, "trainB": 3, "testA": 1, "testB": 1})
    (root / "notes.txt").write_text("a file at the top\n")
    script = ("find . -type f | sed 's|^./||' | LC_ALL=C sort | while read f; do "
              "printf '%s\\t%s\\t%s\\n' \"$f\" \"$(sha256sum \"$f\" | cut -d' ' -f1)\" \"$(stat -c %s \"$f\")\"; "
              "done | LC_ALL=C sort | sha256sum | cut -d' ' -f1")
    expected = subprocess.run(["bash", "-c", script], cwd=root, capture_output=True, text=True, check=True).stdout
    assert build_manifest(root).digest == expected.strip()


def test_corrupt_image_stops_before_training_and_names_the_file(tmp_path):
    root = make_cyclegan_tree(tmp_path / "horse2zebra", {"trainA": 2, "trainB": 2, "testA": 1, "testB": 1})
    bad = root / "trainB" / "broken.jpg"
    bad.write_bytes(b"this is not a jpeg")
    with pytest.raises(HarnessError, match="broken.jpg"):
        prepare_data(TASKS.get("horse2zebra"), tmp_path)


def test_empty_domain_and_wrong_layout_name_the_folder(tmp_path):
    root = make_cyclegan_tree(tmp_path / "horse2zebra", {"trainA": 2, "testA": 1, "testB": 1})
    (root / "trainB").mkdir()
    with pytest.raises(HarnessError, match="trainB"):
        prepare_data(TASKS.get("horse2zebra"), tmp_path)
    odd = tmp_path / "odd"
    (odd / "train").mkdir(parents=True)
    with pytest.raises(HarnessError, match="CycleGAN layout"):
        read_cyclegan(odd)


def test_missing_data_says_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_DATA_ROOT", str(tmp_path))
    with pytest.raises(HarnessError) as info:
        resolve_data_root(TASKS.get("apple2orange"))
    message = str(info.value)
    assert "apple2orange" in message and "huggan/apple2orange" in message and "--data-root" in message


def test_random_split_is_seeded_disjoint_and_80_20(tmp_path):
    root = make_cyclegan_tree(tmp_path / "day2night", {"A": 50, "B": 40})
    listing = read_cyclegan(root)
    split = make_split(root, listing, SplitSpec("random", 0.2, 0))
    again = make_split(root, read_cyclegan(root), SplitSpec("random", 0.2, 0))
    other = make_split(root, read_cyclegan(root), SplitSpec("random", 0.2, 1))
    assert split.counts() == {"trainA": 40, "trainB": 32, "testA": 10, "testB": 8}
    assert split.digest == again.digest != other.digest
    for side in "AB":
        assert not {r.id for r in split.train[side]} & {r.id for r in split.test[side]}


def test_webcam_layout_and_digest():
    shared_data("webcam_day_night")
    prepared = prepare_data(TASKS.get("webcam_day2night"))
    assert prepared.split.counts() == {"trainA": 120, "trainB": 120, "testA": 80, "testB": 80}
    assert prepared.manifest.digest == TASKS.get("webcam_day2night").source.manifest_digest


def test_demo_data_is_generated_paired_and_deterministic(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "c1"))
    first = prepare_data(TASKS.get("demo"))
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "c2"))
    second = prepare_data(TASKS.get("demo"))
    assert first.split.counts() == {"trainA": 48, "trainB": 48, "testA": 16, "testB": 16}
    assert first.split.paired_ids("train") and first.split.paired_ids("test")
    assert first.manifest.digest == second.manifest.digest
