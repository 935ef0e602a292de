"""`harness claims`: every claim form on fixture result sets (holds, refuted, missing runs, inside the noise),
the tests behind a comparison (Welch, indicative, means only), Holm, the outputs and the shipped claims."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats as scipy_stats

from harness.claims import evaluate_claims, noise
from harness.claims.render import to_latex, to_markdown
from harness.cli import main as cli_main
from harness.errors import UsageError
from harness.results import SCHEMA_VERSION

# A toy table: target-KID (lower is better) in two directions and an IoU (higher is better).
TABLE = """
title: "Toy table"
columns:
  - {task: toy, direction: A2B, metric: target_kid_x100, label: "K A2B"}
  - {task: toy, direction: B2A, metric: target_kid_x100, label: "K B2A"}
  - {task: toy, direction: A2B, metric: fcn_mean_iou, label: "IoU A2B"}
rows: [{method: a}, {method: b}, {method: c}]
"""
SEPARATED = {"a": [1.0, 1.1, 0.9], "b": [5.0, 5.2, 4.8], "c": [9.0, 9.3, 8.7]}  # a < b < c, far apart
NOISY = {"a": [1.0, 6.0, 3.0], "b": [2.0, 7.0, 1.5], "c": [3.0, 1.0, 7.0]}  # seed-to-seed spread swamps it

# form -> (claim fields, expected verdict on SEPARATED). Each form is also checked with missing runs and noise.
FORMS = {
    "beats": ({"method": "a", "than": ["b", "c"]}, {"method": "c", "than": ["a"]}),
    "best": ({"method": "a"}, {"method": "c"}),
    "best_count": ({"method": "a", "count": 2, "mode": "exactly"}, {"method": "a", "count": 0, "mode": "exactly"}),
    "order": ({"methods": ["a", "b", "c"]}, {"methods": [["c"], ["a", "b"]]}),
}


def write_result(root: Path, method: str, seed: int, kid: dict[str, float] | None = None,
                 iou: float | None = None, *, task="toy", schedule="short", kid_std=0.5, se=None) -> Path:
    """A minimal result.json: target-KID per direction (with its subsets std and, if given, an `se`)."""
    directions: dict = {"A2B": {}, "B2A": {}}
    for key, value in (kid or {}).items():
        entry = {"status": "ok", "value": value, "std": kid_std, "std_method": "subsets", "metric_id": "kid@x",
                 "weights_sha256": "w", "n_generated": 100, "n_reference": 100, "subset_size": 50}
        if se is not None:
            entry.update(se=se, se_method="bootstrap_images")
        directions[key]["target_kid_x100"] = entry
    if iou is not None:
        directions["A2B"]["fcn_mean_iou"] = {"status": "ok", "value": iou, "metric_id": "fcn@x",
                                             "weights_sha256": "s"}
    result = {"schema_version": SCHEMA_VERSION, "status": "complete", "created_at": "2024-01-01T00:00:00+00:00",
              "task": {"name": task, "version": 1, "domains": ["a", "b"]}, "method": method,
              "setting": "unsupervised", "schedule": schedule, "seed": seed,
              "directions": {"A2B": "A2B", "B2A": "B2A"},
              "metrics": {"status": "evaluated", "protocol": "p1", "directions": directions},
              "config": {"method": {}, "method_class": f"baselines.{method}.X", "overrides": {}},
              "environment": {}, "data": {"manifest_digest": "m", "split_digest": "s"},
              "run": {"run_id": f"{schedule}-seed{seed}", "wall_time_s": 1.0, "steps": 1}}
    path = root / task / method / f"{schedule}-seed{seed}" / "result.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result), encoding="utf-8")
    return path


def write_runs(root: Path, values: dict[str, list[float]], skip: tuple[str, ...] = ()) -> Path:
    """One result per method and seed, the same value in both KID columns (IoU: its negative plus 10)."""
    for method, seeds in values.items():
        if method in skip:
            continue
        for seed, v in enumerate(seeds):
            write_result(root, method, seed, {"A2B": v, "B2A": v}, iou=10 - v)
    return root


def claim_dirs(tmp: Path, claims: list[dict], seeds: int = 2, schedule="short") -> tuple[Path, Path]:
    tables, claim_dir = tmp / "tables", tmp / "claims"
    tables.mkdir(exist_ok=True)
    claim_dir.mkdir(exist_ok=True)
    (tables / "toy.yaml").write_text(TABLE, encoding="utf-8")
    body = {"title": "toy claims", "schedule": schedule, "seeds": seeds, "claims": claims}
    (claim_dir / "toy.yaml").write_text(json.dumps(body), encoding="utf-8")  # JSON is YAML
    return tables, claim_dir


def check(tmp: Path, results: Path, claims: list[dict], seeds: int = 2):
    tables, claim_dir = claim_dirs(tmp, claims, seeds)
    return evaluate_claims(results, claim_dirs=(claim_dir,), table_dirs=(tables,), only=("toy",))


def one(form: str, fields: dict, **extra) -> dict:
    return {"id": f"{form}-claim", "words": "words", "form": form, "table": "toy",
            "columns": ["K A2B", "K B2A"], **fields, **extra}


@pytest.mark.parametrize("form", list(FORMS))
def test_form_holds_refuted_missing_and_noise(tmp_path, form):
    holding, refuted = FORMS[form]
    separated = write_runs(tmp_path / "separated", SEPARATED)
    result = check(tmp_path, separated, [one(form, holding)])[0]
    assert result.verdict == "holds", result.reason
    assert all(c.test == noise.WELCH for c in result.comparisons)
    assert result.by_means.verdict == "holds" and result.robustness.startswith("robust")

    assert check(tmp_path, separated, [one(form, refuted)])[0].verdict == "refuted"

    missing = write_runs(tmp_path / "missing", SEPARATED, skip=("b",))
    result = check(tmp_path, missing, [one(form, holding)])[0]
    assert result.verdict == "not determined"
    assert [(m.task, m.method, m.schedule, m.seeds_needed, m.seeds_found) for m in result.missing_runs] == \
        [("toy", "b", "short", 2, 0)]
    assert "toy · b · schedule short · 2 seeds" in result.missing_runs[0].text()

    noisy = write_runs(tmp_path / "noisy", NOISY)
    result = check(tmp_path, noisy, [one(form, holding)])[0]
    assert result.verdict == "not determined"  # inside the noise never counts as holding
    assert "not distinguishable" in result.reason or "undecided" in result.reason
    assert not result.robustness.startswith("robust")


def test_tie_holds_inside_the_noise_and_is_refuted_by_a_real_gap(tmp_path):
    claim = [one("tie", {"methods": ["a", "b"]})]
    assert check(tmp_path, write_runs(tmp_path / "noisy", NOISY), claim)[0].verdict == "holds"
    assert check(tmp_path, write_runs(tmp_path / "sep", SEPARATED), claim)[0].verdict == "refuted"
    result = check(tmp_path, write_runs(tmp_path / "miss", NOISY, skip=("a",)), claim)[0]
    assert result.verdict == "not determined" and [m.method for m in result.missing_runs] == ["a"]
    # a stated margin: a gap of 4 is a tie within margin 5, not within 3 (and the seeds separate a from b)
    assert check(tmp_path, tmp_path / "sep", [one("tie", {"methods": ["a", "b"], "margin": 5})])[0].verdict == "holds"
    assert check(tmp_path, tmp_path / "sep", [one("tie", {"methods": ["a", "b"], "margin": 3})])[0].verdict \
        == "refuted"


def test_too_few_seeds_names_how_many_were_found(tmp_path):
    results = write_runs(tmp_path / "r", {"a": [1.0], "b": [5.0, 5.1]})
    result = check(tmp_path, results, [one("beats", {"method": "a", "than": ["b"]})], seeds=2)[0]
    assert result.verdict == "not determined"
    assert [(m.method, m.seeds_needed, m.seeds_found) for m in result.missing_runs] == [("a", 2, 1)]
    assert "(found 1)" in result.missing_runs[0].text()


def test_a_refutation_stands_while_other_runs_are_missing(tmp_path):
    results = write_runs(tmp_path / "r", SEPARATED, skip=("b",))
    result = check(tmp_path, results, [one("beats", {"method": "c", "than": ["a", "b"]})])[0]
    assert result.verdict == "refuted" and [m.method for m in result.missing_runs] == ["b"]


def test_unavailable_metric_is_a_missing_cell_with_its_reason(tmp_path):
    root = write_runs(tmp_path / "r", {"a": [1.0, 1.1]})
    path = write_result(root, "b", 0, {"A2B": 5.0, "B2A": 5.0})
    result = json.loads(path.read_text())
    result["metrics"]["directions"]["A2B"]["target_kid_x100"] = {"status": "unavailable", "reason": "no weights"}
    path.write_text(json.dumps(result))
    found = check(tmp_path, root, [one("beats", {"method": "a", "than": ["b"], "columns": ["K A2B"]})], seeds=1)[0]
    assert found.verdict == "not determined"
    assert "no weights" in found.missing_runs[0].text()


def test_single_runs_use_the_recorded_se_else_the_std_and_say_indicative(tmp_path):
    with_se = tmp_path / "se"
    write_result(with_se, "a", 0, {"A2B": 1.0}, se=0.1, kid_std=3.0)
    write_result(with_se, "b", 0, {"A2B": 2.0}, se=0.1, kid_std=3.0)
    claim = [one("beats", {"method": "a", "than": ["b"], "columns": ["K A2B"]})]
    result = check(tmp_path, with_se, claim, seeds=1)[0]
    c = result.comparisons[0]
    assert c.test == noise.INDICATIVE and c.a.spread.source == "se (bootstrap_images)"
    assert c.p == pytest.approx(2 * scipy_stats.norm.sf(1.0 / math.sqrt(0.02)))
    assert result.verdict == "holds" and result.verdict_text == "holds (indicative)"
    # without an `se` the recorded std (3.0 here) is the noise: the same gap is then inside it
    without = tmp_path / "std"
    write_result(without, "a", 0, {"A2B": 1.0}, kid_std=3.0)
    write_result(without, "b", 0, {"A2B": 2.0}, kid_std=3.0)
    result = check(tmp_path, without, claim, seeds=1)[0]
    assert result.comparisons[0].a.spread.source.startswith("std (subsets; no se recorded")
    assert result.verdict == "not determined" and "not distinguishable" in result.reason


def test_a_metric_without_spread_is_read_from_the_means_and_called_indicative(tmp_path):
    root = tmp_path / "r"
    write_result(root, "a", 0, iou=0.6)
    write_result(root, "b", 0, iou=0.4)
    claim = [one("beats", {"method": "a", "than": ["b"], "columns": ["IoU A2B"]})]
    result = check(tmp_path, root, claim, seeds=1)[0]
    assert result.comparisons[0].test == noise.NO_SPREAD and result.comparisons[0].p is None
    assert result.verdict_text == "holds (indicative)"
    assert result.robustness.startswith("not assessed: no spread")


def test_welch_is_scipys_unequal_variance_test():
    from harness.leaderboard.stats import from_runs

    a, b = [1.0, 1.2, 0.8, 1.1], [2.0, 4.0, 0.5]
    cell_a, cell_b = from_runs(a, [None] * 4), from_runs(b, [None] * 3)
    kind, p = noise.test(cell_a, cell_b, noise.side_spread(cell_a), noise.side_spread(cell_b))
    assert kind == noise.WELCH
    assert p == pytest.approx(scipy_stats.ttest_ind(a, b, equal_var=False).pvalue)
    assert p != pytest.approx(scipy_stats.ttest_ind(a, b, equal_var=True).pvalue)


def test_holm_adjusts_step_down_and_keeps_missing():
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → max(0.06, 0.04) = 0.06
    adjusted = noise.holm([0.01, 0.04, None, 0.03, 0.005])
    assert adjusted[2] is None
    assert [round(x, 6) for x in (adjusted[0], adjusted[1], adjusted[3], adjusted[4])] == [0.03, 0.06, 0.06, 0.02]


def test_holm_turns_two_marginal_comparisons_into_not_distinguishable(tmp_path):
    # each gap alone has p ≈ 0.028 (< 0.05); the two together, Holm-corrected, do not
    root = tmp_path / "r"
    for method, value in (("a", 1.0), ("b", 2.55), ("c", 2.55)):
        write_result(root, method, 0, {"A2B": value}, se=0.5)
    alone = check(tmp_path, root, [one("beats", {"method": "a", "than": ["b"], "columns": ["K A2B"]})], seeds=1)[0]
    assert alone.verdict == "holds" and alone.comparisons[0].p < 0.05
    both = check(tmp_path, root, [one("beats", {"method": "a", "than": ["b", "c"], "columns": ["K A2B"]})],
                 seeds=1)[0]
    assert both.verdict == "not determined" and all(c.p_holm >= 0.05 for c in both.comparisons)
    assert "2 tested, Holm at α=0.05" in both.tests_text


def test_bad_claims_are_one_line_errors(tmp_path):
    root = write_runs(tmp_path / "r", SEPARATED)
    with pytest.raises(UsageError, match="did you mean 'K A2B'"):
        check(tmp_path, root, [one("beats", {"method": "a", "than": ["b"], "columns": ["K A2C"]})])
    by_key = [one("beats", {"method": "a", "than": ["b"], "columns": ["A2B target_kid_x100", "toy B2A fcn_mean_iou"]})]
    with pytest.raises(UsageError, match="is not a column of table toy"):
        check(tmp_path, root, by_key)
    by_key[0]["columns"][1] = "toy B2A target_kid_x100"
    assert [c.column.title for c in check(tmp_path, root, by_key)[0].comparisons] == ["K A2B", "K B2A"]
    with pytest.raises(UsageError, match="not a row of table toy"):
        check(tmp_path, root, [one("beats", {"method": "a", "than": ["zzz"]})])
    with pytest.raises(UsageError, match="needs `than`"):
        check(tmp_path, root, [one("beats", {"method": "a"})])
    with pytest.raises(UsageError, match="form 'bets' is not one of .*did you mean"):
        check(tmp_path, root, [one("bets", {"method": "a"})])


def test_cli_writes_md_tex_csv(tmp_path, capsys):
    root = write_runs(tmp_path / "r", SEPARATED)
    tables, claim_dir = claim_dirs(tmp_path, [one("beats", {"method": "a", "than": ["b", "c"]}),
                                              one("tie", {"methods": ["a", "c"]}, id="tie-claim")])
    out = tmp_path / "out"
    assert cli_main(["claims", "--results", str(root), "--out", str(out), "--claims", str(claim_dir),
                     "--tables", str(tables), "--only", "toy"]) == 0
    printed = capsys.readouterr().out
    assert "**holds**" in printed and "**refuted**" in printed and "2 claims: 1 holds, 1 refuted" in printed
    md = (out / "claims.md").read_text()
    assert "### beats-claim" in md and "Welch (3 vs 3 seeds)" in md
    frame = pd.read_csv(out / "claims.csv")
    assert list(frame.claim) == ["beats-claim", "tie-claim"] and list(frame.verdict) == ["holds", "refuted"]
    assert "\\begin{longtable}" in (out / "claims.tex").read_text()
    assert cli_main(["claims", "--results", str(root), "--out", str(out), "--only", "nosuch"]) == 2


def test_committed_results_leave_every_paper_claim_not_determined(tmp_path):
    repo_results = Path(__file__).resolve().parent.parent / "results"
    results = evaluate_claims(repo_results, only=("asgit",))
    assert results and all(r.verdict == "not determined" for r in results)
    for r in results:
        if r.claim.form == "qualitative":
            assert r.reason.startswith("qualitative")
        else:
            assert r.missing_runs and all(m.schedule == "paper" for m in r.missing_runs), r.claim.id
    text = to_markdown(results, "results") + to_latex(results, "results")
    assert "schedule paper" in text


def test_every_paper_claim_as_encoded_holds_on_the_papers_numbers(tmp_path):
    results = evaluate_claims(tmp_path, only=("asgit",))
    quantitative = [r for r in results if r.claim.form != "qualitative"]
    assert len(quantitative) >= 15
    assert {r.claim.id: r.on_paper.verdict for r in quantitative} == {r.claim.id: "holds" for r in quantitative}


def test_demo_claims_on_demo_results_and_the_missing_flat_rows(tmp_path):
    root = tmp_path / "r"
    for method, iou in (("pix2pix", 0.6), ("gan", 0.2), ("identity", 0.3)):
        path = write_result(root, method, 0, iou=iou, task="demo", schedule="demo")
        result = json.loads(path.read_text())  # the demo's headline, mean IoU, in both directions
        result["metrics"]["directions"]["B2A"]["fcn_mean_iou"] = dict(result["metrics"]["directions"]["A2B"]
                                                                      ["fcn_mean_iou"])
        result["directions"] = {"A2B": "S2R", "B2A": "R2S"}
        path.write_text(json.dumps(result))
    found = {r.claim.id: r for r in evaluate_claims(root, only=("demo",))}
    assert found["demo-pix2pix-beats-gan-and-identity"].verdict_text == "holds (indicative)"
    flat = found["demo-every-method-beats-flat"]
    assert flat.verdict == "not determined"
    assert ("demo", "flat", "demo") in {(m.task, m.method, m.schedule) for m in flat.missing_runs}


def test_mixed_protocols_leave_the_claim_not_determined_with_the_guards_reason(tmp_path):
    root = write_runs(tmp_path / "r", SEPARATED)
    clash = write_result(root, "a", 0, {"A2B": 1.0, "B2A": 1.0})
    result = json.loads(clash.read_text())
    result["data"]["manifest_digest"] = "other"
    (clash.parent.parent / "again" / "result.json").parent.mkdir()
    (clash.parent.parent / "again" / "result.json").write_text(json.dumps(result))
    found = check(tmp_path, root, [one("beats", {"method": "a", "than": ["b"]})])[0]
    assert found.verdict == "not determined" and "refuses to mix" in found.reason


def test_another_schedule_is_checked_only_when_asked_and_says_so(tmp_path):
    root = write_runs(tmp_path / "r", SEPARATED)  # schedule "short"; the claims are about "paper"
    tables, claim_dir = claim_dirs(tmp_path, [one("beats", {"method": "a", "than": ["b"]})], schedule="paper")
    kwargs = {"claim_dirs": (claim_dir,), "table_dirs": (tables,), "only": ("toy",)}
    default = evaluate_claims(root, **kwargs)[0]
    assert default.verdict == "not determined" and default.missing_runs[0].schedule == "paper"
    assert any("--schedule short" in n for n in default.notes)
    asked = evaluate_claims(root, schedule="short", **kwargs)[0]
    assert asked.verdict == "holds" and any("the claim is about schedule paper" in n for n in asked.notes)


def test_the_report_page_shows_each_claim_with_its_evidence(tmp_path):
    from harness.claims.page import claims_context
    from harness.report.site import _environment

    root = write_runs(tmp_path / "r", SEPARATED)
    context = claims_context(root)  # the shipped claims: nothing here fills them
    assert context["claims"] and not context["claims_error"]
    assert {c["verdict"] for c in context["claims"]} == {"not determined"}
    html = _environment().get_template("claims.html").render(root="", results="r", generated="now", **context)
    assert 'id="asgit-beats-baselines-target-kid"' in html and "schedule paper" in html
