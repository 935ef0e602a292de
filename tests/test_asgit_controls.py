"""ASGIT's attention probes with a control generator, map-structure figures, test-time settings
evaluated from a checkpoint (`harness evaluate RUN_DIR --set`), the attention ablations, and the
float32 / sync-free fixes (CPU, tiny nets; one trained pair of demo runs shared by the module)."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import torch

from eval_helpers import tiny_extractor
from harness.pipeline import RunSpec, execute
from harness.registry import METHODS, SCHEDULES
from harness.training.method import MethodContext
from methods.asgit.attention import TAMDiscriminator
from methods.asgit.diagnostics import direction_diagnostics, partner_maps, shuffled_maps
from methods.asgit.map_structure import border_width, mean_pairwise_correlation, structure
from methods.asgit.memory import AttentionMemory

TINY = {"ngf": 8, "ndf": 8, "n_blocks": 1}
PROBE_KEYS = ("influence_255", "specificity_255", "random_map_255", "control_influence_255",
              "control_specificity_255", "control_random_map_255")



@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny CycleGAN (no identity loss) and then ASGIT PHA+RHP of the same generator shape on the demo."""
    out = tmp_path_factory.mktemp("results")
    control = execute(RunSpec("demo", "cyclegan", "smoke", out=str(out), device="cpu",
                              overrides={"ngf": 8, "ndf": 8, "n_blocks": 1, "lambda_identity": 0.0}))
    asgit = execute(RunSpec("demo", "asgit-pha-rhp", "smoke", out=str(out), device="cpu", overrides=TINY))
    return {"out": out, "asgit": asgit, "control": control}


def make(name: str, size: int = 32, **overrides):
    cls = METHODS.get(name)
    config = cls.config_class(**{**TINY, **overrides})
    return cls(config, MethodContext(size, 3, cls.settings[0], SCHEDULES.get("smoke"), ("shape", "render"), 3))


def test_result_records_probes_against_the_trained_cyclegan_control(trained):
    result = json.loads((trained["asgit"] / "result.json").read_text())
    d = result["diagnostics"]
    assert d["control"]["kind"] == "trained cyclegan" and d["control"]["run"] == trained["control"].name
    for direction in ("A2B", "B2A"):
        per = d["directions"][direction]
        assert per["n_images"] == result["translations"][direction]["n_images"]
        for key in PROBE_KEYS:
            assert per[key] >= 0, key
        # random maps (same values, shuffled) and another image's map both move any generator
        assert per["control_random_map_255"] > 0 and per["random_map_255"] > 0
        assert 0 <= per["framed_share"] <= 1 and per["border_px"] == 1  # 2 px at 64 px → 1 px at 32
        assert per["border_interior_ratio"] > 0
        assert per["train_mode_correlation"] is None or -1 <= per["train_mode_correlation"] <= 1
    assert all(d[k] is not None for k in PROBE_KEYS)


def test_without_a_control_run_the_control_is_an_untrained_generator_named_as_such(tmp_path):
    torch.manual_seed(0)
    method = make("asgit-tam-alpha")
    images = [torch.rand(3, 3, 32, 32) * 2 - 1]
    from methods.asgit.controls import control_generators
    controls, record = control_generators(method, tmp_path)
    assert record["kind"] == "untrained generator" and "fourth input channel" in record["description"]
    per = direction_diagnostics(method, images, "A2B", controls["A2B"], lambda x: ((x.clamp(-1, 1) + 1) * 127.5).round())
    assert per["n_images"] == 3 and per["control_specificity_255"] > 0


def test_probes_are_zero_when_every_map_is_the_same(monkeypatch):
    """Own, partner and shuffled maps coincide when each map is flat and equal: every probe must read 0."""
    torch.manual_seed(0)
    method = make("asgit-pha-rhp")
    method.eval()
    monkeypatch.setattr(method, "feedback_map", lambda images, direction: method.constant_map(images))
    per = direction_diagnostics(method, [torch.rand(4, 3, 32, 32) * 2 - 1], "A2B", method.untrained_generator(),
                                lambda x: ((x.clamp(-1, 1) + 1) * 127.5).round())
    for key in PROBE_KEYS:
        assert per[key] == 0.0, key
    assert per["flat_maps"] == 4 and per["pairwise_correlation"] is None


def test_partner_and_shuffled_maps():
    maps = torch.arange(4 * 16, dtype=torch.float32).view(4, 1, 4, 4)
    assert torch.equal(partner_maps(maps)[0], maps[2]) and torch.equal(partner_maps(maps)[3], maps[1])
    shuffled = shuffled_maps(maps)
    assert torch.equal(shuffled.flatten(1).sort(1).values, maps.flatten(1).sort(1).values)  # same values
    assert not torch.equal(shuffled, maps)
    assert partner_maps(maps[:1]) is None


def test_map_structure_figures():
    assert border_width(64) == 2 and border_width(256) == 8 and border_width(32) == 1
    framed = torch.zeros(3, 1, 8, 8)
    framed[:, :, 0, :] = framed[:, :, -1, :] = framed[:, :, :, 0] = framed[:, :, :, -1] = 1.0
    framed += 0.05
    s = structure(framed, 64, train_mode_maps=framed)
    assert s["border_interior_ratio"] > 1.5 and s["framed_share"] == 1.0
    assert s["pairwise_correlation"] == pytest.approx(1.0) and s["train_mode_correlation"] == pytest.approx(1.0)
    noise = torch.rand(30, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    assert abs(mean_pairwise_correlation(noise)) < 0.1
    assert structure(noise, 64)["framed_share"] < 0.5


def test_evaluate_set_adds_a_labelled_entry_without_retraining(trained, tmp_path, monkeypatch, capsys):
    from harness.cli import main
    monkeypatch.setenv("HARNESS_OFFLINE", "1")
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    run_dir = trained["asgit"]
    before = json.loads((run_dir / "result.json").read_text())
    runs_before = sorted(p.name for p in run_dir.parent.iterdir())
    with tiny_extractor() as name:
        assert main(["evaluate", str(run_dir), "--set", "test_placeholder=ones", "--extractor", name,
                     "--device", "cpu"]) == 0
    after = json.loads((run_dir / "result.json").read_text())
    assert sorted(p.name for p in run_dir.parent.iterdir()) == runs_before  # no new run id
    assert after["metrics"] == before["metrics"] and after["run"] == before["run"]  # the default entry stays
    entry = after["test_settings"]["test_placeholder=ones"]
    assert entry["set"] == {"test_placeholder": "ones"}
    kid = entry["metrics"]["directions"]["A2B"]["target_kid_x100"]
    assert kid["status"] == "ok"
    folder = run_dir / entry["folder"] / "translations" / "A2B"
    assert len(list(folder.glob("*.png"))) == before["translations"]["A2B"]["n_images"]
    # the all-ones placeholder is another test input than one feedback round: other pixels
    assert entry["translations"]["A2B"]["sha256"] != before["translations"]["A2B"]["sha256"]
    capsys.readouterr()
    # a training option is refused in one line with exit 2; the run's own setting is no new entry
    assert main(["evaluate", str(run_dir), "--set", "ngf=4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ngf" in err[0] and "test-time options only" in err[0]
    assert main(["evaluate", str(run_dir), "--set", "test_placeholder=training"]) == 2


def test_tam_map_under_bf16_autocast_keeps_its_resolution():
    torch.manual_seed(0)
    d = TAMDiscriminator(3, 64).train()
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        _, raw = d(x, with_map=True)
    assert raw.dtype == torch.float32 and raw.unique().numel() > 200  # a bf16 mean gave ~20 of 1,024


def test_memory_bookkeeping_reads_nothing_back_to_the_host(monkeypatch):
    """Stand-in for CUDA's sync debug mode: every Tensor → host read is counted during reads and
    writes after the first (which learns the frame side once per run)."""
    from harness.data.datasets import view_record
    memory = AttentionMemory(8, "ones", "image", 64)
    views = torch.stack([view_record((3, 5, True), 72), view_record((0, 8, False), 72)])
    memory.write("A", ["a", "b"], torch.rand(2, 1, 8, 8), views)
    reads = {"n": 0}

    def counting(name):
        original = getattr(torch.Tensor, name)

        def wrapper(self, *args, **kwargs):
            reads["n"] += 1
            return original(self, *args, **kwargs)
        return wrapper
    for name in ("item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__", "__index__"):
        monkeypatch.setattr(torch.Tensor, name, counting(name))
    for step in range(3):
        maps = memory.read("A", ["a", "b"], "cpu", views)
        memory.write("A", ["a", "b"], maps * 0.5 + step, views)
        memory.read("A", ["c"], "cpu", views[:1], partner=True)
    monkeypatch.undo()
    assert reads["n"] == 0
    assert memory.summary()["writes"] == 8 and memory.summary()["read_hit_share"] == 1.0  # partner reads hit too


def test_uniform_memory_init_starts_the_test_path_from_uniform_too():
    torch.manual_seed(0)
    ones = make("asgit-pha-rhp")
    uniform = make("asgit-pha-rhp", memory_init="uniform")
    uniform.load_state_dict(ones.state_dict())
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    start = uniform.initial_map(x)
    assert start.shape == (2, 1, 4, 4) and start.std() > 0.1 and 0 <= start.min() and start.max() < 1
    assert torch.equal(ones.initial_map(x), torch.ones(2, 1, 4, 4))
    with torch.no_grad():
        assert not torch.allclose(uniform.translate(x, "A2B"), ones.translate(x, "A2B"))


def test_shuffled_and_constant_ablations():
    torch.manual_seed(0)
    memory = AttentionMemory(4, "ones", "crop", 32)
    first, second = torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 4)
    memory.write("A", ["x"], first)
    memory.write("A", ["y"], second)
    assert torch.equal(memory.read("A", ["x"], partner=True)[0], second[0])  # x reads y's map
    assert torch.equal(memory.read("A", ["y"], partner=True)[0], first[0])
    assert torch.equal(memory.read("A", ["z"], partner=True)[0], second[0])  # the last one written
    constant = make("asgit-pha-rhp", attn_source="constant")
    maps = torch.rand(2, 1, 4, 4)
    flat = constant.ablated(maps, "A2B")
    assert torch.allclose(flat.flatten(1).std(1), torch.zeros(2)) and torch.allclose(flat.mean((1, 2, 3)), maps.mean((1, 2, 3)))
    shuffled = make("asgit-pha-rhp", attn_source="shuffled")
    out = shuffled.ablated(maps, "A2B")
    assert torch.equal(out[1], maps[0]) and torch.equal(out[0], torch.ones(1, 4, 4))  # first: the initial map
    assert torch.equal(shuffled.ablated(maps[:1] + 1, "A2B")[0], maps[1])  # the order carries across batches


@pytest.mark.parametrize("source", ["shuffled", "constant"])
def test_ablations_train_and_record_on_the_demo(tmp_path, source):
    run_dir = execute(RunSpec("demo", "asgit-pha-rhp", "smoke", out=str(tmp_path), device="cpu",
                              overrides={**TINY, "attn_source": source}))
    result = json.loads((run_dir / "result.json").read_text())
    assert result["config"]["method"]["attn_source"] == source and result["diagnostics"]["attn_source"] == source
    assert result["diagnostics"]["memory_reads"] > 0
    if source == "constant":
        assert result["diagnostics"]["test_map_spread"] == pytest.approx(0.0, abs=1e-6)


def test_ablation_table_spec_varies_the_attention_source():
    from harness.leaderboard.specs import load_tables
    spec = {s.name: s for s in load_tables()}["asgit_attention_ablation"]
    assert "attn_source" in spec.vary and spec.setting == "unsupervised"
    assert [r.method for r in spec.rows] == ["asgit-pha-rhp", "cyclegan"]
    table2 = {s.name: s for s in load_tables()}["table2"]
    assert spec.columns == table2.columns


def test_asgit_modules_import_no_data_layer():
    for path in (Path(__file__).resolve().parent.parent / "methods" / "asgit").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("harness.data"), f"{path} imports {node.module}"


def test_run_page_shows_the_probes_and_the_control(trained, tmp_path):
    from harness.report.diagnostics import run_extras
    from harness.report.site import write_report
    result = json.loads((trained["asgit"] / "result.json").read_text())
    extras = run_extras(result)
    assert [p["probe"] for p in extras["diagnostics"]["probes"]] == ["influence", "specificity", "random_map"]
    assert len(extras["diagnostics"]["probes"][1]["cells"]) == 6  # model, control, ratio per direction
    assert run_extras({"diagnostics": {"directions": {"A2B": {"influence_255": 1.0}}}})["diagnostics"] is None
    index = write_report(trained["out"], tmp_path / "site")
    page = next((index.parent / "runs").glob("*asgit-pha-rhp*.html")).read_text()
    assert "Attention diagnostics" in page and trained["control"].name in page
    control_page = next((index.parent / "runs").glob("*cyclegan*.html")).read_text()
    assert "Attention diagnostics" not in control_page
