"""Leaderboards over mixed results: default schedules, refusals that keep old files, the swap, spreads,
effective batches, ablation tables, FID columns and LaTeX options."""
from __future__ import annotations

import json

import pytest

from harness.cli import main as cli_main
from harness.leaderboard import RenderOptions, build, latex, render, write_leaderboards
from harness.leaderboard.collect import collect as collect_results
from harness.leaderboard.guard import ProtocolClash
from harness.leaderboard.specs import load_table, load_tables
from test_leaderboard import kid, write_result

SPECS = {s.name: s for s in load_tables()}


def h2z(value, std=0.2, **extra):
    return {"A2B": {"target_kid_x100": {**kid(value, std), **extra}}}


def test_smoke_run_next_to_short_run_keeps_every_table_and_exits_zero(tmp_path, capsys):
    """The demo case: a horse2zebra smoke run beside a `short` one must not refuse or delete Tables 2 and 3."""
    root, out = tmp_path / "results", tmp_path / "lb"
    write_result(root, "horse2zebra", "cyclegan", 0, None, schedule="short")
    write_result(root, "horse2zebra", "cyclegan", 0, h2z(3.0), schedule="smoke")
    assert cli_main(["leaderboard", "--results", str(root), "--out", str(out)]) == 0
    for name in ("table2", "table3", "demo"):
        assert (out / f"{name}.md").is_file()
    t2 = (out / "table2.md").read_text(encoding="utf-8")
    assert "Schedule shown: `smoke`" in t2 and "`short` (0/56 cells)" in t2  # the one with a number wins
    assert "refused" not in (out / "README.md").read_text(encoding="utf-8")


def test_refused_table_keeps_its_previous_files_and_fails_only_when_asked_for(tmp_path, capsys):
    root, out = tmp_path / "results", tmp_path / "lb"
    write_result(root, "horse2zebra", "cyclegan", 0, h2z(3.0))
    assert cli_main(["leaderboard", "--results", str(root), "--out", str(out)]) == 0
    before = (out / "table2.md").read_text(encoding="utf-8")
    write_result(root, "horse2zebra", "unit", 0, h2z(4.0), manifest="other-data")  # same schedule, other data
    assert cli_main(["leaderboard", "--results", str(root), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "table2: refused" in err and "previous files are kept" in err
    assert (out / "table2.md").read_text(encoding="utf-8") == before  # never deleted, never half-updated
    index = (out / "README.md").read_text(encoding="utf-8")
    assert "the files are the previous build" in index and "data manifest digests" in index
    assert (out / "table1.md").is_file()  # tables that can be built still are
    assert cli_main(["leaderboard", "--results", str(root), "--out", str(out), "--only", "table2"]) == 1
    assert cli_main(["leaderboard", "--results", str(root), "--out", str(out), "--only", "table1"]) == 0


def test_interrupted_build_leaves_the_previous_set_untouched(tmp_path, monkeypatch):
    root, out = tmp_path / "results", tmp_path / "lb"
    write_result(root, "horse2zebra", "cyclegan", 0, h2z(3.0))
    write_leaderboards(root, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    write_result(root, "horse2zebra", "unit", 0, h2z(1.0))
    calls = []

    def failing_csv(table):
        calls.append(table.spec.name)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return "new"

    monkeypatch.setattr("harness.leaderboard.to_csv", failing_csv)
    with pytest.raises(KeyboardInterrupt):
        write_leaderboards(root, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no mix of old and new files
    assert not any(p.name.startswith(".lb.") for p in tmp_path.iterdir())  # staging removed


def test_different_effective_batches_are_refused(tmp_path):
    root = tmp_path / "results"
    for method, trainer in (("cyclegan", {"effective_batch": 1}), ("unit", {"world_size": 2, "effective_batch": 8})):
        path = write_result(root, "horse2zebra", method, 0, h2z(3.0))
        data = json.loads(path.read_text())
        data["run"]["trainer"] = trainer
        path.write_text(json.dumps(data))
    with pytest.raises(ProtocolClash, match="different effective batches"):
        build.build_table(SPECS["table2"], collect_results(root))


@pytest.mark.parametrize("entry_extra, note", [
    ({"std": None, "std_method": "unavailable"}, "spread unavailable"),
    ({"subset_size": 16, "n_generated": 16, "n_reference": 16, "std": 1e-14}, "every subset is the whole set"),
])
def test_unusable_spreads_show_no_plus_minus_and_never_mark_close(tmp_path, entry_extra, note):
    root = tmp_path / "results"
    write_result(root, "horse2zebra", "cyclegan", 0, h2z(3.0, 0.5))
    write_result(root, "horse2zebra", "unit", 0, h2z(3.2, **entry_extra))
    table = build.build_table(SPECS["table2"], collect_results(root))
    rows = {r.spec.method: r for r in table.rows}
    unit = rows["unit"].reproduced[2]
    assert unit.mean == 3.2 and unit.std is None and not unit.close  # 3.2 is within 3.0 ± 0.5, but no ± of its own
    assert rows["cyclegan"].reproduced[2].bold
    assert any(note in n for n in table.notes)


def test_bootstrap_spread_is_kept_and_named(tmp_path):
    root = tmp_path / "results"
    write_result(root, "horse2zebra", "unit", 0, h2z(3.2, 0.3, std_method="bootstrap_images", subset_size=16,
                                                     n_generated=16, n_reference=16))
    cell = {r.spec.method: r for r in build.build_table(SPECS["table2"], collect_results(root)).rows}["unit"]
    assert cell.reproduced[2].std == 0.3 and cell.reproduced[2].std_kind == "bootstrap_images"


def test_ablation_table_has_one_row_per_override_value(tmp_path):
    folder = tmp_path / "tables"
    folder.mkdir()
    (folder / "ablation.yaml").write_text(
        "title: 'CycleGAN identity-loss ablation'\nauto_rows: true\nvary: [lambda_identity]\n"
        "columns:\n  - {task: horse2zebra, direction: A2B, metric: target_kid_x100, label: 'H→Z'}\n",
        encoding="utf-8")
    root = tmp_path / "results"
    write_result(root, "horse2zebra", "cyclegan", 0, h2z(3.0))
    for i, value in enumerate((0, 1)):
        write_result(root, "horse2zebra", "cyclegan", 0, h2z(4.0 + value), overrides={"lambda_identity": value},
                     run_id=f"short-seed0-{i}")
    write_result(root, "horse2zebra", "cyclegan", 0, h2z(9.0), overrides={"lambda_cycle": 1}, run_id="short-seed0-x")
    table = build.build_table(load_table(folder / "ablation.yaml"), collect_results(root))
    titles = {r.title: r.reproduced[0].mean for r in table.competitors}
    assert titles == {"CycleGAN [defaults]": 3.0, "CycleGAN [lambda_identity=0]": 4.0,
                      "CycleGAN [lambda_identity=1]": 5.0}  # named as the paper prints the method
    assert table.excluded_overrides == 1  # the lambda_cycle run varies another option
    assert "CycleGAN [lambda\\_identity=0]" in render.to_markdown(table)
    from harness.leaderboard import with_registry_ids
    assert {r.title for r in with_registry_ids(table).competitors} == {
        "cyclegan [defaults]", "cyclegan [lambda_identity=0]", "cyclegan [lambda_identity=1]"}


def test_fid_tables_build_from_fid_entries(tmp_path):
    root = tmp_path / "results"
    fid = {"status": "ok", "value": 80.5, "std": None, "metric_id": "fid@inception/v1", "weights_sha256": "w"}
    write_result(root, "horse2zebra", "cyclegan", 0, {"A2B": {"target_fid": fid}})
    fid_tables = [s for s in load_tables() if any(c.metric == "target_fid" for c in s.columns)]
    assert fid_tables and all(s.paper_table is None for s in fid_tables)
    table = build.build_table(fid_tables[0], collect_results(root))
    assert any(c.present and c.mean == 80.5 for r in table.rows for c in r.reproduced)


def test_latex_caption_once_and_options(tmp_path):
    root = tmp_path / "results"
    write_result(root, "horse2zebra", "cyclegan", 0, h2z(3.0))
    table = build.build_table(SPECS["table2"], collect_results(root))
    tex = latex.to_latex(table)
    assert r"\caption{target-KID $\times$100 (lower is better)}" in tex  # LaTeX adds "Table N:" itself
    assert r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}" in tex  # shrink only, never enlarge
    bare = latex.to_latex(table, notes=False, paper=False)
    assert "minipage" not in bare and "paper" not in bare and "Method & ours" not in bare
    assert bare.count(r"l*{4}{r}") == 2  # 8 wide columns: two stacked panels, not one shrunk table
    out = tmp_path / "lb"
    write_leaderboards(root, out, options=RenderOptions(notes=False))
    assert "Bold:" not in (out / "table2.md").read_text(encoding="utf-8")


def test_latex_text_prints_as_written_and_notes_name_files_not_paths():
    assert latex.tex_escape("run `--set x`") == r"run \textasciigrave{}-{}-set x\textasciigrave{}"
    note = ("weights not found at /root/.cache/torch/hub/checkpoints/w-1.pth; cannot reach "
            "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/w-1.pth: no network")
    assert latex.public_text(note) == "weights not found at w-1.pth; cannot reach w-1.pth: no network"
    assert render._md_escape("set `lambda_identity=0` a_b") == "set `lambda_identity=0` a\\_b"
