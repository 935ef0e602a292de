"""Leaderboards from fixture result files written by the tests (the brief's result.json contract).

Golden files live in tests/golden/; regenerate them with `HARNESS_UPDATE_GOLDEN=1 pytest tests/test_leaderboard.py`
after an intended change to the rendering, and review the diff.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main as cli_main
from harness.errors import HarnessError
from harness.leaderboard import build, latex, paper, render, stats, write_leaderboards
from harness.leaderboard.collect import collect as collect_results
from harness.leaderboard.guard import ProtocolClash
from harness.leaderboard.specs import load_table, load_tables
from harness.results import SCHEMA_VERSION

GOLDEN = Path(__file__).resolve().parent / "golden"
KID_ID = "kid@inception-v3-compat/{}/v1"
FCN_ID = "fcn-score@espnet-c-p2q8/v1"
TASK_DIRECTIONS = {"cityscapes": {"A2B": "photo2label", "B2A": "label2photo"},
                   "apple2orange": {"A2B": "A2O", "B2A": "O2A"}, "horse2zebra": {"A2B": "H2Z", "B2A": "Z2H"},
                   "demo": {"A2B": "S2R", "B2A": "R2S"}}


def kid(value, std, flavour="target", weights="w-inception"):
    return {"status": "ok", "value": value, "std": std, "n_generated": 16, "n_reference": 16, "subset_size": 8,
            "subsets": 10, "flavour": flavour, "metric_id": KID_ID.format(flavour), "extractor": "inception-v3-compat",
            "weights_sha256": weights}


def fcn(value, weights="w-espnet", ceiling=None):
    entry = {"status": "ok", "value": value, "segmenter": "espnet-c-p2q8", "weights_sha256": weights,
             "metric_id": FCN_ID}
    return entry if ceiling is None else {**entry, "ceiling": ceiling}


def unavailable(reason):
    return {"status": "unavailable", "reason": reason}


def write_result(root: Path, task: str, method: str, seed: int, metrics: dict | None, *, schedule="short",
                 setting="unsupervised", manifest="m1", task_version=1, protocol="kid-v1/fcn-v1",
                 overrides=None, method_class=None, run_id=None) -> Path:
    """A minimal result.json with the fields the leaderboard reads; `metrics` maps A2B/B2A to metric entries."""
    run_id = run_id or f"{schedule}-seed{seed}"
    result = {
        "schema_version": SCHEMA_VERSION, "status": "complete", "created_at": "2024-01-01T00:00:00+00:00",
        "task": {"name": task, "version": task_version, "domains": ["a", "b"]},
        "method": method, "setting": setting, "schedule": schedule, "seed": seed,
        "directions": dict(TASK_DIRECTIONS[task]),
        "metrics": ({"status": "evaluated", "protocol": protocol, "directions": metrics} if metrics is not None
                    else {"status": "not_evaluated", "reason": "no evaluation has been run on this result"}),
        "config": {"method": {}, "method_class": method_class or f"baselines.{method}.X", "overrides": overrides or {}},
        "environment": {}, "data": {"manifest_digest": manifest, "split_digest": "s1"},
        "run": {"run_id": run_id, "wall_time_s": 12.5, "steps": 30},
    }
    path = root / task / method / run_id / "result.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result), encoding="utf-8")
    return path


CEILING = (0.81, 0.40, 0.33)  # the segmenter on the real photos, recorded on every label→photo entry


def fcn_dirs(l2p, p2l):
    names = ("fcn_per_pixel_acc", "fcn_per_class_acc", "fcn_mean_iou")
    return {"B2A": {n: fcn(v, ceiling=c) for n, v, c in zip(names, l2p, CEILING)},
            "A2B": {n: fcn(v) for n, v in zip(names, p2l)}}


@pytest.fixture
def table4_results(tmp_path: Path) -> Path:
    """Cityscapes: three seeds of CycleGAN and asgit-pha-rhp, one UNIT run with an unavailable metric,
    an identity reference run, the segmenter ceiling recorded on every label→photo entry, and a supervised
    pix2pix run that Table 4 must ignore."""
    root = tmp_path / "results"
    for seed, (a, b) in enumerate([(0.40, 0.41), (0.42, 0.43), (0.41, 0.42)]):
        write_result(root, "cityscapes", "cyclegan", seed, fcn_dirs((a, 0.15, 0.10), (0.55, 0.20, 0.17)))
        write_result(root, "cityscapes", "asgit-pha-rhp", seed, fcn_dirs((b + 0.1, 0.21, 0.12), (0.55, 0.22, 0.18)))
    unit = fcn_dirs((0.47, 0.16, 0.11), (0.58, 0.18, 0.14))
    unit["A2B"]["fcn_mean_iou"] = unavailable("segmenter weights not found at weights/x.pth; fix: download them")
    write_result(root, "cityscapes", "unit", 0, unit)
    write_result(root, "cityscapes", "identity", 0, fcn_dirs((0.05, 0.03, 0.01), (0.90, 0.50, 0.40)),
                 method_class="harness.reference_methods.identity.Identity")
    write_result(root, "cityscapes", "pix2pix", 0, fcn_dirs((0.61, 0.22, 0.16), (0.80, 0.43, 0.32)),
                 setting="supervised")
    return root


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("HARNESS_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"golden file {path} missing; run with HARNESS_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


def built_table4(root: Path) -> build.BuiltTable:
    spec = {s.name: s for s in load_tables()}["table4"]
    return build.build_table(spec, collect_results(root))


# ---------------------------------------------------------------------------- paper numbers
def test_paper_csv_ships_all_184_reported_cells():
    frame = paper.paper_frame()
    assert frame.groupby("table").size().to_dict() == {1: 32, 2: 40, 3: 40, 4: 36, 5: 36}
    assert paper.reported(2, "day2night", "A2B", "target_kid_x100", "cyclegan") == (2.63, 0.20)
    assert paper.reported(4, "cityscapes", "photo2label", "fcn_per_pixel_acc", "stargan") == (0.61, None)
    assert paper.reported(4, "cityscapes", "photo2label", "fcn_per_pixel_acc", "asgit-pha-rhp") is None


def test_paper_columns_bold_the_papers_best_including_ties(tmp_path):
    outcome = write_leaderboards(tmp_path / "none", tmp_path / "out")
    tables = {t.spec.name: t for t in outcome.written}
    t5 = tables["table5"]
    iou_l2p = t5.spec.columns.index(next(c for c in t5.spec.columns
                                         if c.direction == "label2photo" and c.metric == "fcn_mean_iou"))
    bold = {r.spec.method for r in t5.rows if r.reported[iou_l2p].bold}
    assert bold == {"pix2pix", "asgit-sup-pha", "asgit-sup-tam"}  # the paper's three-way tie
    t2 = tables["table2"]
    d2n = next(i for i, c in enumerate(t2.spec.columns) if c.task == "day2night" and c.direction == "A2B")
    assert [r.spec.method for r in t2.rows if r.reported[d2n].bold] == ["cyclegan"]


# ---------------------------------------------------------------------------- no results
def test_no_results_still_writes_all_five_tables_with_paper_numbers(tmp_path):
    out = tmp_path / "leaderboards"
    outcome = write_leaderboards(tmp_path / "missing", out)
    assert not outcome.refused
    for n in range(1, 6):
        for ext in ("md", "tex", "csv"):
            assert (out / f"table{n}.{ext}").is_file()
    md = (out / "table1.md").read_text(encoding="utf-8")
    assert "**6.31 ± 0.60**" in md and "—" in md
    csv = pd.read_csv(out / "table1.csv")
    assert csv[csv.source == "reproduced"].value.isna().all()  # missing, never zero
    assert (csv[csv.source == "reported"].value > 0).all()
    index = (out / "README.md").read_text(encoding="utf-8")
    assert "[md](table3.md)" in index and "0/56" in index  # 7 rows (CUT, FastCUT extra) × 8 columns


# ---------------------------------------------------------------------------- golden files
def test_table4_markdown_and_latex_match_golden(table4_results):
    table = built_table4(table4_results)
    check_golden("table4.md", render.to_markdown(table))
    check_golden("table4.tex", latex.to_latex(table))


def test_user_defined_table_without_code_matches_golden(tmp_path):
    """A table added as a YAML file: one KID run per method, ± is the subset std, no paper columns."""
    spec_dir = tmp_path / "tables"
    spec_dir.mkdir()
    (spec_dir / "mine.yaml").write_text(
        "title: 'My a2o table: target KID ×100 & friends_1'\nauto_rows: true\n"
        "columns:\n  - {task: apple2orange, direction: A2B, metric: target_kid_x100, label: 'A→O'}\n"
        "  - {task: apple2orange, direction: O2A, metric: target_kid_x100, label: 'O→A (50%)'}\n", encoding="utf-8")
    root = tmp_path / "results"
    write_result(root, "apple2orange", "cyclegan", 0, {"A2B": {"target_kid_x100": kid(8.48, 0.53)},
                                                       "B2A": {"target_kid_x100": kid(5.94, 0.65)}})
    write_result(root, "apple2orange", "unit", 0, {"A2B": {"target_kid_x100": kid(9.50, 0.40)},
                                                   "B2A": {"target_kid_x100": kid(3.10, 0.20)}})
    write_result(root, "apple2orange", "identity", 0, {"A2B": {"target_kid_x100": kid(20.0, 1.0)},
                                                       "B2A": {"target_kid_x100": kid(18.0, 1.0)}})
    table = build.build_table(load_table(spec_dir / "mine.yaml"), collect_results(root))
    check_golden("mine.md", render.to_markdown(table))
    check_golden("mine.tex", latex.to_latex(table))


# ---------------------------------------------------------------------------- content rules
def test_table4_maps_paper_names_marks_significance_and_sets_reference_rows_apart(table4_results):
    table = built_table4(table4_results)
    rows = {r.spec.method: r for r in table.rows}
    assert [r.spec.method for r in table.references] == ["identity"]
    assert [r.spec.method for r in table.ceilings] == ["segmenter-ceiling"]
    assert table.rows[-1].ceiling and table.rows[-2].reference  # references come last, the ceiling after them
    pha = rows["asgit-pha"]  # filled from asgit-pha-rhp, as the footnote says
    assert pha.reproduced[0].n == 3 and pha.reproduced[0].mean == pytest.approx(0.52)
    # label→photo per-pixel: best, but the runner-up (UNIT, 0.47) has one seed, so no test and no mark
    assert pha.reproduced[0].bold and not pha.reproduced[0].significant and pha.reproduced[0].p_value is None
    # photo→label per-class: 0.22 x3 vs CycleGAN's 0.20 x3 (UNIT 0.18 is third): Welch says significant
    assert pha.reproduced[4].bold and pha.reproduced[4].significant and pha.reproduced[4].p_value < 0.05
    assert rows["cyclegan"].delta(0) == pytest.approx(0.41 - 0.42)
    ceiling = rows["segmenter-ceiling"]
    assert ceiling.reproduced[0].mean == pytest.approx(0.81) and not ceiling.reproduced[0].bold  # never competes
    assert not ceiling.reproduced[3].present  # photo→label has no segmenter, so no ceiling
    assert not rows["identity"].reproduced[3].bold  # 0.90 would win, but references do not compete
    assert not rows["asgit-tam"].reproduced[0].present
    assert "pix2pix" not in rows  # supervised runs stay out of the unsupervised table
    md = render.to_markdown(table)
    assert "**0.52 ± 0.01** (n=3)" in md and "**0.22 ± 0.00**\\* (n=3)" in md
    assert "asgit-pha-rhp / asgit-tam-rhp" in md
    assert "_reference rows_" in md and "_segmenter ceiling_" in md and "_espnet-c-p2q8 on the real test photos_" in md
    assert "segmenter weights not found" in md  # the unavailable reason is in the notes


def test_missing_run_renders_as_dash_and_unavailable_as_na(table4_results):
    table = built_table4(table4_results)
    md_rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
               for line in render.to_markdown(table).splitlines() if line.startswith("| ")}
    tam = md_rows["Ours (TAM)"]
    assert tam[0] == "0.49" and tam[1] == "—" and tam[2] == "—"  # paper shown, ours missing, Δ missing
    assert md_rows["UNIT"][-2] == "n/a"  # photo→label IoU could not be computed
    frame = render.to_frame(table)
    ours = frame[(frame.method == "asgit-tam") & (frame.source == "reproduced")]
    assert ours.value.isna().all() and (ours.n == 0).all()


def test_rank_lower_is_better_with_ties_at_display_precision():
    a, b, c = stats.from_runs([1.004], [None]), stats.from_runs([0.996], [None]), stats.from_runs([1.2], [None])
    stats.rank([a, b, c], lower_is_better=True, decimals=2)
    assert a.bold and b.bold and not c.bold  # both show as 1.00
    assert not c.close  # no spread known: not close, just worse


def test_rank_higher_is_better_and_overlap_marks_close():
    best, near, far = (stats.from_runs([v], [s]) for v, s in ((0.60, 0.02), (0.57, 0.02), (0.40, 0.02)))
    stats.rank([far, near, best], lower_is_better=False, decimals=2)
    assert best.bold and not near.bold and near.close and not far.close
    assert not best.significant  # one run each: no test across seeds


def test_significance_needs_separated_seeds():
    best = stats.from_runs([1.0, 1.1, 0.9], [0.1] * 3)
    runner = stats.from_runs([2.0, 2.1, 1.9], [0.1] * 3)
    stats.rank([runner, best], lower_is_better=True, decimals=2)
    assert best.bold and best.significant and best.p_value < 0.01 and not runner.close
    noisy_best = stats.from_runs([1.0, 2.0, 0.5], [0.1] * 3)
    noisy_runner = stats.from_runs([1.5, 1.0, 2.0], [0.1] * 3)
    stats.rank([noisy_best, noisy_runner], lower_is_better=True, decimals=2)
    assert noisy_best.bold and not noisy_best.significant and noisy_runner.close
    assert noisy_best.std_kind == "seeds" and noisy_best.std == pytest.approx(0.7637626, rel=1e-5)


# ---------------------------------------------------------------------------- protocol guard
def _two_demo_results(root: Path, **second) -> tuple[Path, Path]:
    first = write_result(root, "demo", "cyclegan", 0, {"A2B": {"target_kid_x100": kid(1.0, 0.1)}}, schedule="smoke")
    other = write_result(root, "demo", "unit", 0, {"A2B": {"target_kid_x100": kid(2.0, 0.1)}},
                         **{"schedule": "smoke", **second})
    return first, other


@pytest.mark.parametrize("second, what", [
    ({"schedule": "short"}, "schedules"),
    ({"manifest": "m2"}, "data manifest digests"),
    ({"task_version": 2}, "task versions"),
    ({"protocol": "kid-v2/fcn-v1"}, "metric protocols"),
])
def test_mixed_protocols_are_refused_naming_the_files(tmp_path, second, what):
    root = tmp_path / "results"
    first, other = _two_demo_results(root, **second)
    spec = {s.name: s for s in load_tables()}["demo"]
    with pytest.raises(ProtocolClash) as err:
        build.build_table(spec, collect_results(root))
    message = str(err.value)
    assert what in message
    assert first.relative_to(root).as_posix() in message and other.relative_to(root).as_posix() in message


def test_mixed_metric_weights_are_refused(tmp_path):
    root = tmp_path / "results"
    write_result(root, "demo", "cyclegan", 0, {"A2B": {"target_kid_x100": kid(1.0, 0.1)}})
    write_result(root, "demo", "unit", 0, {"A2B": {"target_kid_x100": kid(2.0, 0.1, weights="other")}})
    spec = {s.name: s for s in load_tables()}["demo"]
    with pytest.raises(ProtocolClash, match="target_kid_x100: different weights_sha256"):
        build.build_table(spec, collect_results(root))


def test_schedule_filter_and_default_schedule_pick(tmp_path):
    root, out = tmp_path / "results", tmp_path / "out"
    _two_demo_results(root, schedule="short")  # cyclegan smoke, unit short: one cell each
    outcome = write_leaderboards(root, out, schedule="smoke")
    assert not outcome.refused
    md = (out / "demo.md").read_text(encoding="utf-8")
    assert "CycleGAN" in md and "UNIT" not in md  # the short-schedule UNIT run is filtered out
    outcome = write_leaderboards(root, out)  # no --schedule: the longer schedule wins the tie, and says so
    demo = {t.spec.name: t for t in outcome.written}["demo"]
    assert not outcome.refused and demo.schedules == ["short"]
    md = (out / "demo.md").read_text(encoding="utf-8")
    assert "UNIT" in md and "CycleGAN" not in md and "Schedule shown: `short`" in md and "`smoke` (1/" in md


def test_runs_with_overrides_stay_out(tmp_path):
    root = tmp_path / "results"
    write_result(root, "demo", "cyclegan", 0, {"A2B": {"target_kid_x100": kid(1.0, 0.1)}})
    write_result(root, "demo", "cyclegan", 0, {"A2B": {"target_kid_x100": kid(9.0, 0.1)}},
                 overrides={"lambda_identity": 0}, run_id="short-seed0-ab12")
    spec = {s.name: s for s in load_tables()}["demo"]
    table = build.build_table(spec, collect_results(root))
    kid_s2r = next(i for i, c in enumerate(spec.columns) if (c.metric, c.direction) == ("target_kid_x100", "A2B"))
    assert table.rows[0].reproduced[kid_s2r].mean == 1.0 and table.excluded_overrides == 1


def test_other_schema_version_is_an_error_naming_the_file(tmp_path):
    root = tmp_path / "results"
    path = write_result(root, "demo", "cyclegan", 0, None)
    data = json.loads(path.read_text())
    data["schema_version"] = SCHEMA_VERSION + 1
    path.write_text(json.dumps(data))
    with pytest.raises(HarnessError, match=str(path)):
        collect_results(root)


# ---------------------------------------------------------------------------- LaTeX, CLI
def test_latex_escapes_and_compiles(tmp_path, table4_results):
    assert latex.tex_escape("a_b & 50% → #1 {x} ~ ^") == \
        r"a\_b \& 50\% $\rightarrow$ \#1 \{x\} \textasciitilde{} \textasciicircum{}"
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed; the LaTeX compile check needs a TeX distribution")
    doc = tmp_path / "doc.tex"
    doc.write_text("\\documentclass{article}\\usepackage{booktabs,graphicx}\\begin{document}\n"
                   + latex.to_latex(built_table4(table4_results)) + "\\end{document}\n", encoding="utf-8")
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_cli_leaderboard_and_results(tmp_path, table4_results, capsys):
    out = tmp_path / "lb"
    assert cli_main(["leaderboard", "--results", str(table4_results), "--out", str(out)]) == 0
    assert "table4: 17/48" in capsys.readouterr().out  # 8 competitor rows × 6 columns
    csv_file = tmp_path / "runs.csv"
    assert cli_main(["results", "--results", str(table4_results), "--csv", str(csv_file)]) == 0
    printed = capsys.readouterr().out
    assert "identity" in printed and "label2photo pix" in printed and "n/a" in printed
    runs = pd.read_csv(csv_file)
    assert len(runs) == 9 and set(runs.seed) == {0, 1, 2}
    unit = runs[runs.method == "unit"].iloc[0]
    assert pd.isna(unit["photo2label IoU"]) and unit["label2photo pix"] == pytest.approx(0.47)
    assert cli_main(["results", "--results", str(table4_results), "--csv", str(csv_file), "--long"]) == 0
    assert len(pd.read_csv(csv_file)) == 9 * 6
