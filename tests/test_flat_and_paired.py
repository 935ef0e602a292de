"""The demo's `flat` reference row, the weight-free paired scores (PSNR/SSIM) and per-setting schedules."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from eval_helpers import fake_run, identity, perfect
from harness.data import demo
from harness.data.datasets import load_image
from harness.errors import UsageError
from harness.evaluation import EvalOptions, evaluate_run
from harness.pipeline import methods_for_task, setting_for
from harness.reference_methods.flat import Flat, flat_image
from harness.registry import METHODS, SCHEDULES, TASKS
from harness.schedules import Schedule


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    return tmp_path


def evaluate(tmp_path, translate, metrics):
    run_dir, result, prepared = fake_run(tmp_path / "runs", translate)
    return evaluate_run(run_dir, result, prepared, EvalOptions(metrics=metrics, cache_root=str(tmp_path / "f")))


def flat_method(direction, ref):
    """What the registered `flat` method writes for one test image (through its own translate)."""
    method = Flat.__new__(Flat)  # translate needs no state
    source = torch.zeros(1, 3, demo.SIZE, demo.SIZE)
    out = Flat.translate(method, source, direction)[0]
    return Image.fromarray(np.rint((out.permute(1, 2, 0).numpy() + 1) * 127.5).astype(np.uint8))


def test_flat_scores_the_background_share_and_sits_below_identity_on_miou(cache):
    flat = evaluate(cache / "flat", flat_method, ("demo_oracle",))
    ident = evaluate(cache / "ident", identity, ("demo_oracle",))
    labels = np.stack([demo.scene(i, "val")[0] for i in range(demo.N_TEST)])
    share = float((labels == 0).mean())
    for direction in ("A2B", "B2A"):
        got = flat["directions"][direction]
        assert got["fcn_per_pixel_acc"]["value"] == pytest.approx(share)  # high: background is half the image
        assert got["fcn_mean_iou"]["value"] == pytest.approx(share / 3)  # low: no object class ever found
        assert got["fcn_mean_iou"]["value"] < ident["directions"][direction]["fcn_mean_iou"]["value"]
    assert (np.asarray(flat_method("A2B", None)) == flat_image("A2B", demo.SIZE, demo.SIZE)).all()
    assert (flat_image("B2A", 4, 4) == demo.LABEL_COLOURS[0]).all()


def test_flat_runs_only_on_the_demo_task():
    assert "flat" in methods_for_task(TASKS.get("demo")) and "identity" in methods_for_task(TASKS.get("demo"))
    others = methods_for_task(TASKS.get("horse2zebra"))
    assert "flat" not in others and "identity" in others
    with pytest.raises(UsageError, match="only for task"):
        setting_for(METHODS.get("flat"), TASKS.get("horse2zebra"))


def test_paired_scores_measure_each_translation_against_its_true_pair(cache):
    ident = evaluate(cache / "ident", identity, ("paired_fidelity",))
    exact = evaluate(cache / "exact", perfect, ("paired_fidelity",))
    ref = TASKS.get("demo")
    for direction in ("A2B", "B2A"):
        psnr, ssim = (ident["directions"][direction][k] for k in ("paired_psnr", "paired_ssim"))
        assert psnr["status"] == ssim["status"] == "ok" and psnr["n_pairs"] == demo.N_TEST
        assert 0 < psnr["value"] < 20 and -1 < ssim["value"] < 0.9 and psnr["se"] == pytest.approx(psnr["std"] / 4)
        # the perfect translation: SSIM 1, PSNR infinite, so recorded unavailable with that reason
        assert exact["directions"][direction]["paired_ssim"]["value"] == pytest.approx(1.0)
        assert "infinite" in exact["directions"][direction]["paired_psnr"]["reason"]
    # PSNR of identity S→R, counted directly: the label image against the render of the same scene
    from harness.data.prepare import prepare_data
    prepared = prepare_data(ref)
    values = []
    for r in prepared.split.test["A"]:
        label = np.asarray(load_image(r), dtype=np.float64)
        render = np.asarray(perfect("A2B", r), dtype=np.float64)
        values.append(10 * np.log10(255.0 ** 2 / ((label - render) ** 2).mean()))
    assert ident["directions"]["A2B"]["paired_psnr"]["value"] == pytest.approx(np.mean(values))


def test_per_setting_values_apply_to_that_setting_only():
    base = SCHEDULES.get("demo")
    sched = Schedule(name="t", description="t", epochs_constant=1, epochs_decay=1, lr=5e-4,
                     per_setting={"unsupervised": {"epochs_constant": 3, "lr": 1e-3}})
    assert sched.for_run("unsupervised", "cyclegan").epochs == 4 and sched.for_run("unsupervised", "x").lr == 1e-3
    assert sched.for_run("supervised", "pix2pix") is sched
    with pytest.raises(UsageError, match="batch_size"):
        Schedule(name="t", description="t", epochs_constant=1, epochs_decay=1,
                 per_setting={"supervised": {"batch_size": 4}})
    with pytest.raises(UsageError, match="no setting"):
        Schedule(name="t", description="t", epochs_constant=1, epochs_decay=1, per_setting={"paired": {}})
    assert base.for_run("supervised", "pix2pix").epochs <= base.for_run("unsupervised", "cyclegan").epochs


def test_per_method_values_apply_after_the_setting_and_to_that_method_only():
    sched = Schedule(name="t", description="t", epochs_constant=1, epochs_decay=1, lr=5e-4,
                     per_setting={"unsupervised": {"epochs_constant": 2, "epochs_decay": 2, "lr": 1e-3}},
                     per_method={"cut": {"epochs_constant": 4, "epochs_decay": 4}})
    cut, cyclegan = sched.for_run("unsupervised", "cut"), sched.for_run("unsupervised", "cyclegan")
    assert (cut.epochs, cut.lr) == (8, 1e-3)  # its own length, its setting's learning rate
    assert (cyclegan.epochs, cyclegan.lr) == (4, 1e-3)
    assert sched.for_run("supervised", "cut").epochs == 8 and sched.for_run("supervised", "cut").lr == 5e-4
    assert sched.unknown_methods(["cut", "cyclegan"]) == [] and sched.unknown_methods(["cyclegan"]) == ["cut"]
    with pytest.raises(UsageError, match="per_method.cut: batch_size"):
        Schedule(name="t", description="t", epochs_constant=1, epochs_decay=1, per_method={"cut": {"batch_size": 2}})
    with pytest.raises(UsageError, match="mapping"):
        Schedule(name="t", description="t", epochs_constant=1, epochs_decay=1, per_method={"cut": 4})
    # values get the types and ranges the top-level fields get, when the schedule is read (no traceback later)
    with pytest.raises(UsageError, match="per_method.cut.lr: 'fast' is not a float"):
        Schedule(name="t", description="t", epochs_constant=1, epochs_decay=1, per_method={"cut": {"lr": "fast"}})
    with pytest.raises(UsageError, match="per_setting.unsupervised: epochs_constant=-5 must be at least 0"):
        Schedule(name="t", description="t", epochs_constant=1, epochs_decay=1,
                 per_setting={"unsupervised": {"epochs_constant": -5}})
    # and the schedule a run resolves from both blocks together: here cut's unsupervised runs train no epoch
    with pytest.raises(UsageError, match=r"per_setting.unsupervised \+ per_method.cut: .*at least one epoch"):
        Schedule(name="t", description="t", epochs_constant=1, epochs_decay=1,
                 per_setting={"unsupervised": {"epochs_constant": 0}}, per_method={"cut": {"epochs_decay": 0}})
    # every method a shipped schedule names is registered (a typo would otherwise stop `harness run`)
    for entry in SCHEDULES.entries():
        assert entry.obj.unknown_methods(METHODS.names()) == [], entry.name
