"""`harness evaluate` as users meet it: computed entries are never replaced by unavailable ones, exit
codes, images decoded once, FCN ground truth from train-id maps, plain folders with labels, and a
val/-only copy of aligned data."""
from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from eval_helpers import dump, fake_run, identity, perfect, render_segmenter, tiny_extractor
from harness.evaluation import EvalOptions, evaluate_run


@pytest.fixture()
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setenv("HARNESS_OFFLINE", "1")
    monkeypatch.delenv("HARNESS_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "harness-cache"))
    return tmp_path


def test_reevaluation_keeps_computed_entries_and_exits_1_when_it_computes_nothing(isolated, capsys):
    from harness.cli import main
    from harness.pipeline import RunSpec, execute
    run_dir = execute(RunSpec("demo", "identity", "smoke", 0, "cpu", None, str(isolated / "results")))
    path = run_dir / "result.json"
    with tiny_extractor() as name:
        assert main(["evaluate", str(run_dir), "--extractor", name]) == 0
    before = json.loads(path.read_text())["metrics"]
    kid = before["directions"]["A2B"]["target_kid_x100"]
    assert kid["status"] == "ok" and before["directions"]["A2B"]["target_fid"]["status"] == "ok"
    # asked for the Inception metrics only, a wrong --inception-weights computes nothing: exit 1, the file
    # keeps every computed entry (the demo's weight-free oracle score would otherwise be recomputed)
    wrong = isolated / "other.pth"
    wrong.write_bytes(b"not the weights")
    capsys.readouterr()
    assert main(["evaluate", str(run_dir), "--inception-weights", str(wrong), "--metrics", "target_kid,fused_kid"]) == 1
    captured = capsys.readouterr()
    after = json.loads(path.read_text())["metrics"]
    assert after == before
    assert re.search(r"target_kid_x100[^\n]* \(A2B, B2A\) not computed", captured.err) and "Fix:" in captured.err
    assert "computed nothing" in captured.err
    # a re-evaluation of some metrics leaves the others as they are
    with tiny_extractor() as name:
        assert main(["evaluate", str(run_dir), "--extractor", name, "--metrics", "fused_kid",
                     "--kid-subsets", "7"]) == 0
    partial = json.loads(path.read_text())["metrics"]
    assert partial["directions"]["A2B"]["target_kid_x100"] == kid and partial["status"] == "evaluated"
    assert partial["directions"]["A2B"]["fused_kid_x100"]["subsets"] == 7


def test_merge_keeps_a_computed_entry_that_could_not_be_recomputed():
    from harness.evaluation.report import merge_metrics, unavailable_lines
    ok = {"status": "ok", "value": 78.04, "std": 1.2, "std_method": "subsets"}
    old = {"status": "evaluated", "evaluated_at": "then",
           "directions": {"A2B": {"target_kid_x100": ok, "fcn_mean_iou": {"status": "ok", "value": 0.3}}}}
    gone = {"status": "unavailable", "reason": "Inception weights not found at X; fix: get them"}
    new = {"status": "partial", "evaluated_at": "now", "reason": "r",
           "directions": {"A2B": {"target_kid_x100": gone, "target_fid": gone,
                                  "fcn_mean_iou": {"status": "ok", "value": 0.4}}}}
    merged = merge_metrics(old, new)
    entries = merged["directions"]["A2B"]
    assert entries["target_kid_x100"] == ok and entries["fcn_mean_iou"]["value"] == 0.4
    assert entries["target_fid"] == gone and merged["status"] == "partial"
    assert merged["kept_from_previous_evaluation"] == [
        {"direction": "A2B", "metric": "target_kid_x100", "evaluated_at": "then",
         "not_recomputed_because": gone["reason"]}]
    assert unavailable_lines(new, "RUN") == [
        "RUN: target_kid_x100, target_fid (A2B) not computed: Inception weights not found at X. Fix: get them"]


def test_each_translation_is_decoded_once_per_evaluation(isolated, monkeypatch):
    from harness.evaluation import images
    run_dir, result, prepared = fake_run(isolated / "runs", identity)
    decoded: dict[str, int] = {}
    real_read = images.read_uint8

    def counting(path):
        decoded[str(path)] = decoded.get(str(path), 0) + 1
        return real_read(path)

    monkeypatch.setattr(images, "read_uint8", counting)
    with tiny_extractor() as name:  # hashed for the cache key, then features: one decode each
        evaluate_run(run_dir, result, prepared, EvalOptions(extractor=name, cache_root=str(isolated / "c")))
    assert decoded and set(decoded.values()) == {1}, dump(decoded)


def _with_train_ids(isolated, prepared, scale: int = 2):
    """A copy of the demo data with converter-style full-resolution train-id maps (labels ×`scale`)."""
    from harness.data.cityscapes import train_id_path
    from harness.data.datasets import load_image
    from harness.evaluation.fcn_score import colour_label_gt
    root = isolated / "demo-data"
    shutil.copytree(prepared.root, root)
    for ref in prepared.split.test["A"]:
        ids = colour_label_gt(np.asarray(load_image(ref), dtype=np.uint8))
        big = np.kron(ids, np.ones((scale, scale), dtype=np.uint8))
        path = train_id_path(root, "test", ref.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(big).save(path)
    return root


def test_fcn_ground_truth_is_the_train_id_maps_where_they_exist(isolated):
    from harness.data.cityscapes import train_id_path
    from harness.data.prepare import prepare_data
    from harness.registry import TASKS
    _, _, prepared = fake_run(isolated / "probe", perfect)
    root = _with_train_ids(isolated, prepared)
    data = prepare_data(TASKS.get("demo"), root)
    run_dir, result, _ = fake_run(isolated / "runs", perfect)
    options = EvalOptions(metrics=("fcn_score",), label_side="A", cache_root=str(isolated / "cache"))
    with render_segmenter() as seg:
        metrics = evaluate_run(run_dir, result, data, EvalOptions(**{**options.__dict__, "segmenter": seg}))
    entry = metrics["directions"]["B2A"]["fcn_per_pixel_acc"]
    assert entry["gt_source"] == "train_ids" and entry["value"] == pytest.approx(1.0)
    assert metrics["ceilings"]["fcn"]["gt_source"] == "train_ids"
    # one map missing: the colour labels, and the record says so
    train_id_path(root, "test", data.split.test["A"][0].id).unlink()
    with render_segmenter() as seg:
        metrics = evaluate_run(run_dir, result, data, EvalOptions(**{**options.__dict__, "segmenter": seg}))
    assert metrics["directions"]["A2B"]["fcn_mean_iou"]["gt_source"] == "colour_labels"


def test_real_photos_are_segmented_once_for_the_reference_row(isolated):
    from eval_helpers import RenderColourSegmenter
    from harness.evaluation.reference_rows import evaluate_real_vs_real
    with render_segmenter() as seg:
        RenderColourSegmenter.calls = 0
        row = evaluate_real_vs_real("demo", EvalOptions(metrics=("fcn_score",), label_side="A", segmenter=seg,
                                                        cache_root=str(isolated / "cache")), "smoke")
    entry = row["metrics"]["directions"]["A2B"]["fcn_per_pixel_acc"]
    assert entry["value"] == pytest.approx(entry["ceiling"])
    assert RenderColourSegmenter.calls == 4  # 16 real photos, batches of 4, one pass (was 32 calls)


def test_folders_with_labels_get_the_fcn_score_and_kid(isolated, capsys):
    from harness.cli import main
    run_dir, _, prepared = fake_run(isolated / "runs", perfect)
    labels = isolated / "labels"
    labels.mkdir()
    from harness.data.datasets import load_image
    for ref in prepared.split.test["A"]:
        load_image(ref).save(labels / f"{ref.id}.png")  # colour labels
    gen = run_dir / "translations" / "A2B"  # label→render outputs: segmented
    with render_segmenter() as seg, tiny_extractor() as name:
        code = main(["evaluate", "--generated", str(gen), "--reference", str(gen), "--labels", str(labels),
                     "--segmenter", seg, "--extractor", name])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["fcn_per_pixel_acc"]["status"] == "ok" and out["fcn_per_pixel_acc"]["gt_source"] == "colour_labels"
    assert out["fcn_per_pixel_acc"]["value"] > 0.9 and out["target_kid_x100"]["status"] == "ok"
    assert out["target_fid"]["status"] == "ok"
    # without weights for anything asked: every entry unavailable, exit 1
    assert main(["evaluate", "--generated", str(gen), "--reference", str(gen)]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["target_kid_x100"]["status"] == "unavailable" and "downloads are off" in out["target_fid"]["reason"]


def test_a_val_only_copy_is_enough_for_evaluation_not_for_training(isolated):
    from harness.data.prepare import prepare_data
    from harness.errors import HarnessError
    from harness.registry import TASKS
    _, _, prepared = fake_run(isolated / "probe", identity)
    root = isolated / "val-only" / "demo"
    shutil.copytree(prepared.root / "val", root / "val")
    data = prepare_data(TASKS.get("demo"), root.parent, for_evaluation=True)
    assert [r.id for r in data.split.test["A"]] == [r.id for r in prepared.split.test["A"]]
    assert data.split.train["A"] == [] and data.split.rule.startswith("test images only")
    with pytest.raises(HarnessError, match="no train/: enough for `harness evaluate`"):
        prepare_data(TASKS.get("demo"), root.parent)


def test_missing_metrics_of_many_runs_are_one_line_per_reason(tmp_path):
    from harness.evaluation.report import runs_unavailable_lines
    gone = {"status": "unavailable", "reason": "Inception weights not found at X; fix: run `harness evaluate RUN_DIR`"}
    small = {"status": "unavailable", "reason": "KID needs at least 10 images per set; got 8 generated"}
    for i, method in enumerate(("gan", "pix2pix", "identity")):
        run = tmp_path / method
        run.mkdir()
        entries = {"target_kid_x100": gone, "fused_kid_x100": small if i == 0 else gone,
                   "fcn_mean_iou": {"status": "ok", "value": 0.5}}
        (run / "result.json").write_text(json.dumps({"metrics": {"directions": {"A2B": entries, "B2A": entries}}}))
    lines = runs_unavailable_lines([tmp_path / m for m in ("gan", "pix2pix", "identity")] + [tmp_path / "absent"])
    assert lines == [
        "target_kid_x100, fused_kid_x100 (A2B, B2A) not computed in 3 runs: Inception weights not found at X. "
        "Fix: run `harness evaluate RUN_DIR`",
        f"fused_kid_x100 (A2B, B2A) not computed in {tmp_path / 'gan'}: KID needs at least 10 images per set; got 8 "
        "generated. Fix: address the reason, then run `harness evaluate RUN_DIR`"]


def test_folder_mode_fix_does_not_name_a_run_folder():
    from harness.evaluation.report import unavailable_lines
    gone = {"status": "unavailable", "reason": "weights not found; fix: download them, then run "
                                               "`harness evaluate RUN_DIR` to fill in KID"}
    lines = unavailable_lines({"directions": {"folders": {"target_kid_x100": gone, "fused_kid_x100": gone}}},
                              mode="folders")
    assert lines == ["target_kid_x100, fused_kid_x100 (folders) not computed: weights not found. "
                     "Fix: download them, then run this command again"]
