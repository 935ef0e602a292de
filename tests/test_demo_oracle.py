"""The demo task's ground-truth score (demo oracle FCN score), its data and the demo schedule.

The oracle is checked against the generator itself: it must recover the generated label maps
from the real renders, give every translation exactly the score its pixels deserve, and be
recorded like every other metric.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from eval_helpers import fake_run, identity, perfect
from harness.data import demo
from harness.data.datasets import load_image
from harness.evaluation import EvalOptions, evaluate_run
from harness.evaluation.demo_oracle import ORACLE_SHA256, label_colours_to_ids, segment_render
from harness.registry import SCHEDULES, TASKS

ORACLE_ONLY = ("demo_oracle",)


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    return tmp_path


def evaluate(tmp_path, translate):
    run_dir, result, prepared = fake_run(tmp_path / "runs", translate)
    return evaluate_run(run_dir, result, prepared, EvalOptions(metrics=ORACLE_ONLY, cache_root=str(tmp_path / "f")))


def known_labels() -> np.ndarray:
    return np.stack([demo.scene(i, "val")[0] for i in range(demo.N_TEST)])


def expected_scores(gt: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Per-pixel acc, mean per-class acc and mean IoU computed directly from the label arrays."""
    acc = float((gt == pred).mean())
    per_class, iou = [], []
    for c in range(len(demo.CLASS_NAMES)):
        g, p = gt == c, pred == c
        per_class.append((g & p).sum() / g.sum())
        iou.append((g & p).sum() / (g | p).sum())
    return {"per_pixel_acc": acc, "per_class_acc": float(np.mean(per_class)), "mean_iou": float(np.mean(iou))}


def test_oracle_recovers_the_generated_labels_from_the_real_renders():
    wrong = total = 0
    for split, n in (("val", demo.N_TEST), ("train", demo.N_TRAIN)):
        for i in range(n):
            labels, render = demo.scene(i, split)
            got = segment_render(torch.from_numpy(render).permute(2, 0, 1))
            wrong, total = wrong + int((got != labels).sum()), total + labels.size
            assert (label_colours_to_ids(demo.LABEL_COLOURS[labels]) == labels).all()
    # only where the noise (std 6 per channel) crosses half the gap between two classes' colours
    assert wrong / total < 1e-4


def test_background_is_about_half_so_painting_background_scores_badly():
    fractions = np.bincount(known_labels().ravel(), minlength=3) / known_labels().size
    assert 0.4 < fractions[0] < 0.65 and min(fractions[1:]) > 0.1


def test_perfect_translations_score_one_and_equal_the_ceiling(cache):
    metrics = evaluate(cache, perfect)
    assert metrics["status"] == "evaluated"
    for direction in ("A2B", "B2A"):
        for key in ("fcn_per_pixel_acc", "fcn_per_class_acc", "fcn_mean_iou"):
            assert metrics["directions"][direction][key]["value"] == pytest.approx(1.0)
    s2r = metrics["directions"]["A2B"]["fcn_per_pixel_acc"]
    assert s2r["ceiling"] == pytest.approx(1.0) and metrics["ceilings"]["demo_oracle"]["n_images"] == demo.N_TEST
    assert "ceiling" not in metrics["directions"]["B2A"]["fcn_per_pixel_acc"]  # render→label has no segmenter


def test_scores_equal_a_direct_count_for_identity_and_a_flat_background(cache):
    gt = known_labels()
    chw = [(torch.from_numpy(demo.LABEL_COLOURS[labels]).permute(2, 0, 1), torch.from_numpy(render).permute(2, 0, 1))
           for labels, render in (demo.scene(i, "val") for i in range(demo.N_TEST))]
    ident = evaluate(cache / "i", identity)
    # identity S2R: the label image segmented as a render; R2S: the render read as a label image
    for direction, pred in (("A2B", np.stack([segment_render(a) for a, _ in chw])),
                            ("B2A", np.stack([label_colours_to_ids(b) for _, b in chw]))):
        got = ident["directions"][direction]
        for name, value in expected_scores(gt, pred).items():
            assert got[f"fcn_{name}"]["value"] == pytest.approx(value), (direction, name)
        assert got["fcn_per_pixel_acc"]["value"] < 0.6

    def background(direction, ref):  # a method that paints every pixel as background
        if direction == "A2B":
            return Image.fromarray(np.rint(demo.background(demo.SIZE, demo.SIZE)).astype(np.uint8))
        return Image.new("RGB", (demo.SIZE, demo.SIZE))

    flat = evaluate(cache / "b", background)
    share = float((gt == 0).mean())
    for direction in ("A2B", "B2A"):
        entry = flat["directions"][direction]
        assert entry["fcn_per_pixel_acc"]["value"] == pytest.approx(share)
        assert entry["fcn_per_class_acc"]["value"] == pytest.approx(1 / 3)
        assert entry["fcn_mean_iou"]["value"] == pytest.approx(share / 3)
        assert entry["fcn_mean_iou"]["class_iou"]["disc"] == 0.0


def test_entries_are_recorded_like_every_metric(cache):
    metrics = evaluate(cache, identity)
    s2r, r2s = metrics["directions"]["A2B"]["fcn_mean_iou"], metrics["directions"]["B2A"]["fcn_mean_iou"]
    assert s2r["status"] == "ok" and s2r["n_images"] == demo.N_TEST
    assert s2r["metric_id"] == "fcn-score@demo-oracle/v1" and s2r["segmenter"] == "demo-oracle"
    assert s2r["oracle_sha256"] == ORACLE_SHA256 and s2r["mode"] == "label2photo"
    assert r2s["metric_id"] == "fcn-score@demo-label-colours/v1" and r2s["segmenter"] is None
    assert set(s2r["class_iou"]) == set(demo.CLASS_NAMES)


def test_other_tasks_get_the_oracle_as_unavailable_with_a_reason(cache):
    from harness.evaluation.context import EvalContext
    from harness.evaluation.demo_oracle import demo_oracle_score
    ctx = EvalContext(EvalOptions(cache_root=str(cache / "f")), TASKS.get("horse2zebra"))
    entry = demo_oracle_score(ctx, "A2B")["fcn_per_pixel_acc"]
    assert entry["status"] == "unavailable" and "demo" in entry["reason"]


def test_demo_data_lives_in_a_versioned_cache_folder(cache):
    from harness.data.prepare import prepare_data
    stale = cache / "cache" / "data" / "demo" / "val"  # what an older harness wrote
    stale.mkdir(parents=True)
    Image.new("RGB", (64, 32)).save(stale / f"{demo.N_TEST - 1:03d}.png")
    prepared = prepare_data(TASKS.get("demo"))
    assert prepared.root.name == f"demo-v{demo.DATA_VERSION}"
    ref = prepared.split.test["A"][0]
    labels = demo.scene(int(ref.id), "val")[0]
    assert (np.asarray(load_image(ref)) == demo.LABEL_COLOURS[labels]).all()


def test_demo_schedule_narrows_networks_unless_set_and_checkpoints_once(cache):
    from harness.data.prepare import prepare_data
    from harness.pipeline import RunSpec, build_method
    from harness.training.trainer import Interrupted
    schedule = SCHEDULES.get("demo")
    assert not schedule.checkpoint_epoch_ends and schedule.method_defaults
    assert hash(schedule) == hash(SCHEDULES.get("demo"))  # schedules stay usable as keys
    task = TASKS.get("demo")
    prepared = prepare_data(task)
    method, _, _ = build_method(RunSpec("demo", "pix2pix", "demo"), task, prepared)
    assert method.config.ngf == schedule.method_defaults["ngf"]
    method, _, _ = build_method(RunSpec("demo", "pix2pix", "demo", overrides={"ngf": 4}), task, prepared)
    assert method.config.ngf == 4
    # no checkpoint at the first epoch end: a run stopped after it has nothing to resume from
    from harness.pipeline import execute
    spec = RunSpec("demo", "gan", "demo", device="cpu", out=str(cache / "r"))
    with pytest.raises(Interrupted):
        from harness.training.trainer import iters_per_epoch
        execute(spec, stop_at_step=iters_per_epoch(demo.N_TRAIN, schedule) + 1)
    assert not (spec.run_dir / "checkpoints").exists()
