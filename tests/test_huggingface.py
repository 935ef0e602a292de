"""Export of Hugging Face `datasets` to the CycleGAN layout, on small data sets built in the test (no network)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

datasets = pytest.importorskip("datasets")

from harness.data.huggingface import PROVENANCE_FILE, export_dataset, export_hub_dataset  # noqa: E402
from harness.data.layouts import read_cyclegan  # noqa: E402
from harness.data.manifest import build_manifest  # noqa: E402
from harness.errors import HarnessError  # noqa: E402


def _img(seed: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8))


def _paired_columns() -> "datasets.DatasetDict":
    # huggan style: imageA/imageB, the shorter domain padded with None
    train = datasets.Dataset.from_dict({"imageA": [_img(0), _img(1), None], "imageB": [_img(10), _img(11), _img(12)]},
                                       features=datasets.Features({"imageA": datasets.Image(),
                                                                   "imageB": datasets.Image()}))
    test = datasets.Dataset.from_dict({"imageA": [_img(20), _img(20)], "imageB": [_img(30), _img(31)]},
                                      features=train.features)
    return datasets.DatasetDict({"train": train, "test": test})


def test_export_image_pair_columns(tmp_path):
    out = tmp_path / "h2z"
    info = export_dataset(_paired_columns(), out, "local/h2z", revision="abc123")
    assert info["counts"] == {"trainA": 2, "trainB": 3, "testA": 1, "testB": 2}
    assert info["repeated_images_skipped"] == 1  # testA's padded repeat
    listing = read_cyclegan(out)
    assert [len(listing["train"]["A"]), len(listing["test"]["B"])] == [2, 2]
    # bytes kept losslessly: the pixels are those of the source images
    first = sorted((out / "trainB").iterdir())[0]
    assert np.array_equal(np.asarray(Image.open(first).convert("RGB")), np.asarray(_img(10)))
    prov = json.loads((out / PROVENANCE_FILE).read_text())
    assert prov["dataset_id"] == "local/h2z" and prov["revision"] == "abc123"
    assert prov["manifest_digest"] == build_manifest(out).digest  # hidden provenance file is not in the manifest


def test_export_label_column_and_save_to_disk(tmp_path):
    features = datasets.Features({"image": datasets.Image(),
                                  "label": datasets.ClassLabel(names=["testA", "testB", "trainA", "trainB"])})
    ds = datasets.Dataset.from_dict({"image": [_img(i) for i in range(6)], "label": [2, 3, 2, 0, 1, 3]},
                                    features=features)
    saved = tmp_path / "saved"
    datasets.DatasetDict({"train": ds}).save_to_disk(str(saved))
    info = export_hub_dataset(str(saved), tmp_path / "out")
    assert info["counts"] == {"trainA": 2, "trainB": 2, "testA": 1, "testB": 1}
    assert info["revision"] == "local" and info["dataset_id"] == str(saved.resolve())


def test_two_domain_labels_and_refusals(tmp_path):
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["day", "night"])})
    ds = datasets.Dataset.from_dict({"image": [_img(i) for i in range(4)], "label": [0, 1, 1, 0]}, features=features)
    info = export_dataset(datasets.DatasetDict({"train": ds, "validation": ds}), tmp_path / "dn", "local/dn")
    assert info["counts"] == {"trainA": 2, "trainB": 2, "testA": 2, "testB": 2}
    with pytest.raises(HarnessError, match="not empty"):
        export_dataset(datasets.DatasetDict({"train": ds}), tmp_path / "dn", "local/dn")
    bad = datasets.Dataset.from_dict({"text": ["a", "b"]})
    with pytest.raises(HarnessError, match="image columns"):
        export_dataset(datasets.DatasetDict({"train": bad}), tmp_path / "bad", "local/bad")
    assert not (tmp_path / "bad").exists() and not (tmp_path / ".bad.partial").exists()
