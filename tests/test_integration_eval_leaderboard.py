"""Evaluation and leaderboards together: what evaluation records is what the tables show.

- a real run on `demo` evaluated with the test-only extractor and a colour segmenter feeds a
  table: test-only KID never enters it, the recorded segmenter ceiling becomes a separate row,
  the segmenter is named in the caption;
- crafted result files: re-implemented methods (†), reconstructed fused-KID protocol (‡),
  Table 5 with ESPNet, evaluated-but-unavailable runs, one note per distinct n/a reason;
- `harness run --inception-weights PATH` reaches evaluation; the environment variable still does.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from eval_helpers import RenderColourSegmenter, tiny_extractor
from harness.cli import main as cli_main
from harness.errors import UsageError
from harness.evaluation.inception import ENV_INCEPTION_WEIGHTS, WeightsFile
from harness.leaderboard import build, latex, render, write_leaderboards
from harness.leaderboard.collect import collect
from harness.leaderboard.specs import load_table, load_tables
from harness.results import SCHEMA_VERSION
from harness.registry import SEGMENTERS

FAL_PROVENANCE = "reconstruction of FAL from the paper text"
FUSED_NOTE = "fused-KID protocol reconstructed (paper does not define it)"


@pytest.fixture()
def isolated(tmp_path, monkeypatch):
    """No Inception weights anywhere, and a private harness cache."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv(ENV_INCEPTION_WEIGHTS, raising=False)
    return tmp_path


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def recast(result: dict, root: Path, method: str, **changes) -> Path:
    """A copy of a real result file under another method name (its metrics untouched)."""
    data = {**json.loads(json.dumps(result)), "method": method, **changes}
    path = root / data["task"]["name"] / method / data["run"]["run_id"] / "result.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# ------------------------------------------------------------------ real evaluation → table
DEMO_TABLE = """
title: "Demo {fcn_score} and KID"
auto_rows: true
columns:
  - {task: demo, direction: S2R, metric: target_kid_x100, label: "target S→R"}
  - {task: demo, direction: A2B, metric: fcn_per_pixel_acc, label: "shape→render pix."}
  - {task: demo, direction: A2B, metric: fcn_mean_iou, label: "shape→render IoU"}
  - {task: demo, direction: B2A, metric: fcn_per_pixel_acc, label: "render→shape pix."}
"""


@pytest.fixture()
def evaluated_demo(isolated):
    """identity on demo, evaluated for real (test-only KID, colour segmenter, shapes as labels),
    plus a copy of that result posing as a re-implemented supervised method."""
    from harness.evaluation import EvalOptions
    from harness.pipeline import RunSpec, execute
    root = isolated / "results"
    SEGMENTERS.register(RenderColourSegmenter.name, lambda weights, device, void: RenderColourSegmenter())
    try:
        with tiny_extractor() as name:
            options = EvalOptions(extractor=name, segmenter=RenderColourSegmenter.name, label_side="A",
                                  metrics=("target_kid", "fcn_score"), cache_root=str(isolated / "cache"))
            run_dir = execute(RunSpec("demo", "identity", "smoke", 0, "cpu", None, str(root)), eval_options=options)
    finally:
        SEGMENTERS.unregister(RenderColourSegmenter.name)
    result = read(run_dir / "result.json")
    config = {**result["config"], "method": {"provenance": FAL_PROVENANCE, "reimplemented": True},
              "method_class": "baselines.fal.FAL"}
    recast(result, root, "fal", setting="supervised", config=config)
    return root, result


def test_evaluation_metadata_reaches_the_table(evaluated_demo, tmp_path):
    root, result = evaluated_demo
    a2b = result["metrics"]["directions"]["A2B"]
    assert a2b["target_kid_x100"]["status"] == "ok" and a2b["target_kid_x100"]["for_leaderboards"] is False
    ceiling = a2b["fcn_per_pixel_acc"]["ceiling"]
    assert result["metrics"]["ceilings"]["fcn"]["per_pixel_acc"] == pytest.approx(ceiling)

    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "mine.yaml").write_text(DEMO_TABLE, encoding="utf-8")
    table = build.build_table(load_table(tmp_path / "t" / "mine.yaml"), collect(root))
    rows = {r.spec.method: r for r in table.rows}
    # test-only KID: computed, recorded, but never a number in a table
    assert not rows["fal"].reproduced[0].present and not rows["identity"].reproduced[0].present
    assert rows["fal"].reproduced[1].mean == pytest.approx(a2b["fcn_per_pixel_acc"]["value"])
    # the ceiling recorded by evaluation is a separate, non-competing row for label→photo columns only
    assert [r.spec.method for r in table.ceilings] == ["segmenter-ceiling"]
    cells = table.ceilings[0].reproduced
    assert cells[1].mean == pytest.approx(ceiling) and not cells[1].bold
    assert cells[2].mean == pytest.approx(a2b["fcn_mean_iou"]["ceiling"])
    assert not cells[0].present and not cells[3].present  # KID and photo→label have no ceiling
    assert table.caption == "Demo FCN-score (test-render-colours) and KID"
    assert table.not_evaluated == []  # evaluated, even though KID is left out

    md = render.to_markdown(table)
    assert "| FAL† " in md and f"† FAL: {FAL_PROVENANCE}." in md
    assert "_segmenter ceiling_" in md and "_test-render-colours on the real test photos_" in md
    assert md.index("_reference rows_") < md.index("_segmenter ceiling_")
    # one note for the two test-only KID values in the table's columns (B2A KID is in no column)
    assert "Left out: 2 metric value(s) from 2 result file(s) computed with test-only tools (test-tiny-pool4x4" in md
    assert md.count("test-tiny-pool4x4") == 1 and "for\\_leaderboards: false" in md
    tex = latex.to_latex(table)
    assert r"\textit{Segmenter ceiling}" in tex and r"FAL$^{\dagger}$" in tex and "?" not in tex
    frame = render.to_frame(table)
    kid_values = frame[(frame.metric == "target_kid_x100") & (frame.source == "reproduced")].value
    assert kid_values.isna().all()  # not in the CSV either
    ceiling_rows = frame[frame.method == "segmenter-ceiling"]
    assert ceiling_rows.reference.all() and ceiling_rows.value.notna().sum() == 2


def test_results_listing_marks_test_only_values(evaluated_demo, capsys, monkeypatch):
    root, _ = evaluated_demo
    monkeypatch.setenv("COLUMNS", "300")  # the listing fits the terminal: wide enough for the KID columns
    assert cli_main(["results", "--results", str(root)]) == 0
    out = capsys.readouterr().out
    assert "test-only" in out and "S2R tKID" in out


# ------------------------------------------------------------------ crafted result files
def write(root: Path, task: str, method: str, seed: int, directions: dict, *, setting="unsupervised",
          method_config=None, metrics_status="evaluated", schedule="paper") -> Path:
    names = {"cityscapes": {"A2B": "photo2label", "B2A": "label2photo"},
             "horse2zebra": {"A2B": "H2Z", "B2A": "Z2H"}}[task]
    result = {
        "schema_version": SCHEMA_VERSION, "status": "complete", "task": {"name": task, "version": 1},
        "method": method, "setting": setting, "schedule": schedule, "seed": seed, "directions": names,
        "metrics": {"status": metrics_status, "protocol": "kid-v1/fcn-v1", "directions": directions},
        "config": {"method": method_config or {}, "method_class": f"baselines.{method}.X", "overrides": {}},
        "data": {"manifest_digest": "m", "split_digest": "s"}, "run": {"run_id": f"{schedule}-seed{seed}"},
        "environment": {}, "created_at": "2024-01-01T00:00:00+00:00",
    }
    path = root / task / method / f"{schedule}-seed{seed}" / "result.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result), encoding="utf-8")
    return path


def espnet_fcn(l2p: tuple, p2l: tuple, ceiling=(0.80, 0.45, 0.35)) -> dict:
    names = ("fcn_per_pixel_acc", "fcn_per_class_acc", "fcn_mean_iou")
    seg = {"segmenter": "espnet-p2q8", "segmenter_label": "ESPNet p2q8", "weights_sha256": "e",
           "metric_id": "fcn-score@espnet-p2q8/v1"}
    pal = {"segmenter": None, "metric_id": "fcn-score@palette-nearest/v1"}
    return {"B2A": {n: {"status": "ok", "value": v, **seg, "ceiling": c} for n, v, c in zip(names, l2p, ceiling)},
            "A2B": {n: {"status": "ok", "value": v, **pal} for n, v in zip(names, p2l)}}


def test_table5_names_espnet_marks_fal_and_shows_the_ceiling(tmp_path):
    root = tmp_path / "results"
    write(root, "cityscapes", "pix2pix", 0, espnet_fcn((0.60, 0.20, 0.15), (0.80, 0.40, 0.30)), setting="supervised")
    write(root, "cityscapes", "fal", 0, espnet_fcn((0.62, 0.21, 0.16), (0.81, 0.41, 0.31)), setting="supervised",
          method_config={"provenance": FAL_PROVENANCE, "reimplemented": True})
    outcome = write_leaderboards(root, tmp_path / "lb", only=("table5", "table4"))
    assert not outcome.refused
    md = (tmp_path / "lb" / "table5.md").read_text(encoding="utf-8")
    first = md.splitlines()[0]
    assert first == "# Table 5: Cityscapes FCN-score (ESPNet p2q8), supervised (higher is better)"
    assert "FCN-8s" not in first
    assert "| FAL† " in md and f"† FAL: {FAL_PROVENANCE}." in md and "| pix2pix " in md
    assert "_ESPNet p2q8 on the real test photos_" in md
    assert "Caffe FCN-8s" in md and "use ESPNet p2q8, not FCN-8s" in md
    tex = (tmp_path / "lb" / "table5.tex").read_text(encoding="utf-8")
    assert r"\caption{Cityscapes FCN-score (ESPNet p2q8), supervised" in tex  # LaTeX numbers the table itself
    csv = pd.read_csv(tmp_path / "lb" / "table5.csv")
    ceiling = csv[(csv.method == "segmenter-ceiling") & (csv.metric == "fcn_per_pixel_acc")]
    assert ceiling.value.dropna().tolist() == [0.80] and ceiling.reference.all()
    # Table 4 has no unsupervised Cityscapes results: no ceiling row, a neutral caption, no † note
    t4 = (tmp_path / "lb" / "table4.md").read_text(encoding="utf-8")
    assert t4.startswith("# Table 4: Cityscapes FCN scores, unsupervised") and "segmenter ceiling" not in t4
    assert "†" not in t4
    index = (tmp_path / "lb" / "README.md").read_text(encoding="utf-8")
    assert "FCN-score (ESPNet p2q8), supervised" in index
    assert ("| table4 | Table 4: Cityscapes FCN scores, unsupervised (higher is better) | 0/48 (no unsupervised "
            "results for cityscapes) |") in index


def kid_entry(value, flavour="target", **extra):
    return {"status": "ok", "value": value, "std": 0.1, "metric_id": f"kid@inception-v3-compat/{flavour}/v1",
            "extractor": "inception-v3-compat", "weights_sha256": "w", "flavour": flavour, **extra}


def test_fused_kid_columns_are_footnoted_and_reasons_are_grouped(tmp_path):
    root = tmp_path / "results"
    fused = {"protocol_note": FUSED_NOTE, "fused_mode": "union_balanced", "for_leaderboards": True}
    write(root, "horse2zebra", "cyclegan", 0,
          {d: {"target_kid_x100": kid_entry(2.0), "fused_kid_x100": kid_entry(3.0, "fused-union_balanced", **fused)}
           for d in ("A2B", "B2A")})
    missing = {"status": "unavailable", "reason": "Inception weights not found; fix: get them"}
    for method in ("unit", "stargan", "aggan"):
        write(root, "horse2zebra", method, 0, {d: {"target_kid_x100": missing, "fused_kid_x100": missing}
                                               for d in ("A2B", "B2A")}, metrics_status="not_evaluated")
    specs = {s.name: s for s in load_tables()}
    t3 = build.build_table(specs["table3"], collect(root))
    h2z = next(i for i, c in enumerate(t3.spec.columns) if c.task == "horse2zebra" and c.direction == "A2B")
    assert t3.column_markers[h2z] == "‡" and t3.column_title(h2z).endswith("‡")
    md = render.to_markdown(t3)
    assert f"‡ {FUSED_NOTE}; fused mode: union\\_balanced" in md
    # three runs evaluated without weights: one note naming the reason once, and they count as evaluated
    assert md.count("Inception weights not found") == 1 and "n/a in 3 result files" in md
    assert t3.not_evaluated == [] and "have no metrics yet" not in md
    t2 = build.build_table(specs["table2"], collect(root))
    assert "‡" not in "".join(t2.column_markers)  # target-KID follows the paper's definition


def test_results_listing_orders_columns_and_says_when_nothing_was_computable(tmp_path, capsys):
    root = tmp_path / "results"
    missing = {"status": "unavailable", "reason": "Inception weights not found"}
    write(root, "horse2zebra", "unit", 0, {d: {"fused_kid_x100": missing, "target_kid_x100": missing}
                                           for d in ("B2A", "A2B")}, metrics_status="not_evaluated")
    path = write(root, "horse2zebra", "cyclegan", 0, {})
    data = read(path)
    data["metrics"] = {"status": "not_evaluated", "reason": "no evaluation has been run on this result"}
    path.write_text(json.dumps(data), encoding="utf-8")
    assert cli_main(["results", "--results", str(root)]) == 0
    out = capsys.readouterr().out
    flat = " ".join(out.split())  # notes wrap at the terminal width
    # metrics n/a in every run are not columns but one note, tKID before fKID, A2B (H2Z) before B2A
    assert "not shown, n/a in every run: H2Z tKID, Z2H tKID, H2Z fKID, Z2H fKID" in flat
    status = {line.split()[0]: line.split(None, 1)[1].strip() for line in out.splitlines()
              if line.startswith(("CycleGAN", "UNIT"))}
    assert status == {"CycleGAN": "none yet", "UNIT": "none (n/a)"}  # attempted but nothing computable
    assert max(len(line) for line in out.splitlines()) <= 120


def test_a_result_without_metric_entries_is_listed_as_not_evaluated(tmp_path):
    root = tmp_path / "results"
    path = write(root, "horse2zebra", "cyclegan", 0, {})
    data = read(path)
    data["metrics"] = {"status": "not_evaluated", "reason": "no evaluation has been run on this result"}
    path.write_text(json.dumps(data), encoding="utf-8")
    t2 = build.build_table({s.name: s for s in load_tables()}["table2"], collect(root))
    assert t2.not_evaluated == ["horse2zebra/cyclegan/paper-seed0/result.json"]


# ------------------------------------------------------------------ harness run --inception-weights
def test_run_passes_inception_weights_to_evaluation_and_env_var_still_works(isolated, monkeypatch):
    import harness.evaluation.inception as inception
    fake = isolated / "not-inception.pth"
    fake.write_bytes(b"not the torch-fidelity file")
    # Let the up-front check through; evaluation itself still checks the hash and records why KID is out.
    monkeypatch.setattr(inception, "locate_inception_weights", lambda path: WeightsFile(Path(path), "x", "test"))
    out = isolated / "results"
    args = ["run", "--task", "demo", "--methods", "identity", "--device", "cpu", "--out", str(out)]
    assert cli_main(args + ["--inception-weights", str(fake)]) == 0
    entry = read(out / "demo/identity/smoke-seed0/result.json")["metrics"]["directions"]["A2B"]["target_kid_x100"]
    assert entry["status"] == "unavailable"
    assert f"Inception weights at {fake} (--inception-weights) have sha256" in entry["reason"]

    other = isolated / "from-env.pth"
    other.write_bytes(b"also not it")
    monkeypatch.setenv(ENV_INCEPTION_WEIGHTS, str(other))
    assert cli_main(args + ["--force"]) == 0
    entry = read(out / "demo/identity/smoke-seed0/result.json")["metrics"]["directions"]["B2A"]["target_kid_x100"]
    assert f"at {other} (${ENV_INCEPTION_WEIGHTS})" in entry["reason"]


def test_run_refuses_a_missing_inception_file_before_training(isolated, capsys):
    out = isolated / "results"
    code = cli_main(["run", "--task", "demo", "--methods", "identity", "--device", "cpu", "--out", str(out),
                     "--inception-weights", str(isolated / "nope.pth")])
    assert code == UsageError.exit_code
    assert "--inception-weights: Inception weights not found at" in capsys.readouterr().err
    assert not out.exists()
