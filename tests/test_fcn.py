"""FCN-score maths against scikit-learn, the Cityscapes palette, and the ESPNet segmenter."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, jaccard_score, recall_score

from harness.evaluation.fcn import IGNORE, PALETTE, colours_to_ids, confusion, ids_to_colours, scores


def test_confusion_metrics_match_scikit_learn():
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 19, size=(4, 40, 40)).astype(np.uint8)
    gt[rng.random(gt.shape) < 0.1] = IGNORE
    gt[gt == 7] = 0  # one class absent from the ground truth: counts as 0 in the class means
    pred = np.where(rng.random(gt.shape) < 0.6, gt, rng.integers(0, 19, size=gt.shape)).astype(np.uint8)
    pred[pred == IGNORE] = 3
    hist = sum(confusion(g, p) for g, p in zip(gt, pred))  # accumulated over images
    got = scores(hist)
    keep = gt.reshape(-1) != IGNORE
    y, p = gt.reshape(-1)[keep], pred.reshape(-1)[keep]
    labels = list(range(19))
    assert np.array_equal(hist[:, :19], confusion_matrix(y, p, labels=labels))
    assert got["per_pixel_acc"] == pytest.approx(accuracy_score(y, p))
    assert got["per_class_acc"] == pytest.approx(recall_score(y, p, labels=labels, average=None,
                                                              zero_division=0).mean())
    assert got["mean_iou"] == pytest.approx(jaccard_score(y, p, labels=labels, average=None,
                                                          zero_division=0).mean())


def test_predictions_outside_the_classes_are_misses_not_false_positives():
    gt = np.array([0, 0, 1, 1])
    hist = confusion(gt, np.array([0, 19, 1, 1]))
    s = scores(hist)
    assert s["per_pixel_acc"] == pytest.approx(0.75)
    assert s["class_iou"][0] == pytest.approx(0.5) and s["class_iou"][1] == pytest.approx(1.0)


def test_palette_round_trip_and_nearest_colour():
    ids = np.arange(19, dtype=np.uint8).repeat(3).reshape(3, 19)
    colours = ids_to_colours(ids)
    assert np.array_equal(colours_to_ids(colours), ids)
    noisy = np.clip(colours.astype(int) + np.random.default_rng(1).integers(-6, 7, colours.shape), 0, 255)
    assert np.array_equal(colours_to_ids(noisy.astype(np.uint8), max_distance=30), ids)
    # CHW tensors work too
    assert np.array_equal(colours_to_ids(torch.from_numpy(colours).permute(2, 0, 1)), ids)
    # far from every colour: ignored for ground truth, nearest class for predictions
    odd = np.array([[[255, 255, 255], [0, 0, 0]]], dtype=np.uint8)
    assert colours_to_ids(odd, max_distance=30).tolist() == [[IGNORE, IGNORE]]
    assert colours_to_ids(odd)[0, 0] == int(np.argmin(((PALETTE.astype(int) - 255) ** 2).sum(1)))


def _espnet_path() -> Path:
    from harness.evaluation.espnet import default_espnet_path
    return default_espnet_path()


def test_espnet_loads_strictly_and_predicts_train_ids(monkeypatch):
    path = _espnet_path()
    if not path.is_file():
        pytest.skip(f"ESPNet weights absent ({path}); set HARNESS_DATA_ROOT to the shared data folder")
    from harness.evaluation import espnet
    from harness.evaluation.espnet import ESPNET_N_TENSORS, build_espnet_segmenter
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert len(state) == ESPNET_N_TENSORS
    seg = build_espnet_segmenter(str(path), torch.device("cpu"))
    assert sum(p.numel() for p in seg.net.parameters()) == 364_569
    with torch.no_grad():  # the network keeps the input size: 19 train ids + void
        logits = seg.net(torch.zeros(1, 3, 64, 128))
    assert logits.shape == (1, 20, 64, 128) and torch.isfinite(logits).all()
    images = torch.randint(0, 256, (3, 3, 24, 24), dtype=torch.uint8)
    first = seg.predict(images[:1], (16, 32))  # one forward at the authors' 512×1024 input
    assert first.shape == (1, 16, 32) and first.max() <= 18 and first.min() >= 0
    # The CPU forward flushes subnormal floats (the weights hold 18,302; 11x faster): the same classes as a
    # forward that keeps them (~5 s of CPU), logits equal but for values below float32's smallest normal.
    flushed = seg.logits(images[:1])
    x = (images[:1].flip(1).float() - seg._mean) / seg._std
    with torch.no_grad():
        kept = seg.net(torch.nn.functional.interpolate(x, size=espnet.INPUT_HW, mode="bilinear",
                                                       align_corners=False) / 255.0)
    assert torch.equal(flushed[:, :19].argmax(1), kept[:, :19].argmax(1))
    assert torch.allclose(flushed, kept, rtol=0, atol=1e-4), (flushed - kept).abs().max()
    # and flushing ends with the block: a subnormal survives arithmetic again
    assert (torch.tensor([1e-39]) * 1.0).item() != 0.0
    # Batching is plumbing (batches of 2 and 1, upsampling per image, concatenation) and does not
    # depend on the network's input size: checked at 64×128, where a forward is 64 times cheaper.
    monkeypatch.setattr(espnet, "INPUT_HW", (64, 128))
    seg.batch_size = 2
    pred = seg.predict(images, (16, 32))
    assert pred.shape == (3, 16, 32) and pred.max() <= 18 and pred.min() >= 0
    one_by_one = torch.cat([seg.predict(images[i:i + 1], (16, 32)) for i in range(3)])
    assert (pred == one_by_one).float().mean() > 0.999  # batching changes nothing but float rounding
    assert seg.record()["weights_sha256"].startswith("343b0e77")


def test_espnet_refuses_wrong_weights(tmp_path):
    from harness.evaluation.espnet import locate_espnet_weights
    from harness.evaluation.inception import WeightsUnavailable
    bad = tmp_path / "espnet_p_2_q_8.pth"
    bad.write_bytes(b"not the weights")
    with pytest.raises(WeightsUnavailable, match="sha256"):
        locate_espnet_weights(bad)
    with pytest.raises(WeightsUnavailable, match="not found.*fix"):
        locate_espnet_weights(tmp_path / "missing.pth")


def test_user_segmenter_by_path(tmp_path):
    from harness.evaluation.segmenters import build_torchscript_segmenter

    class RedIsRoad(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            red = (x[:, :1].float() > 127).float()
            return torch.cat([red, 1 - red, torch.zeros_like(red).repeat(1, 18, 1, 1)], 1)

    path = tmp_path / "seg.pt"
    torch.jit.script(RedIsRoad()).save(str(path))
    seg = build_torchscript_segmenter(str(path), torch.device("cpu"))
    img = torch.zeros(1, 3, 4, 4, dtype=torch.uint8)
    img[:, 0, :2] = 255
    pred = seg.predict(img, (4, 4))
    assert pred[0, :2].eq(0).all() and pred[0, 2:].eq(1).all()
    assert seg.record()["segmenter"] == "torchscript:seg.pt"
