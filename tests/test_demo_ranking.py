"""The demo tells a working method from a broken one: with the schedule `./run.sh demo` uses,
pix2pix beats its no-L1, unconditional ablation `gan` and the `identity` reference row on the demo
oracle's per-pixel accuracy in both directions, through the real CLI, and the demo table shows it.

This trains two methods on the CPU with the demo schedule (the seconds it takes are the demo's own
cost; speed is measured by the demo itself, never asserted here)."""
from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.evaluation.inception import ENV_INCEPTION_WEIGHTS

METHODS = ("pix2pix", "gan", "identity")


@pytest.fixture(scope="module")
def demo_results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_CACHE", str(tmp / "cache"))
        mp.setenv("TORCH_HOME", str(tmp / "torch-home"))  # no Inception weights: KID unavailable
        mp.delenv(ENV_INCEPTION_WEIGHTS, raising=False)
        out = tmp / "results"
        assert main(["run", "--task", "demo", "--methods", ",".join(METHODS), "--schedule", "demo",
                     "--device", "cpu", "--discard-checkpoints", "--out", str(out)]) == 0
    return tmp, out


def per_pixel(out, method: str) -> dict[str, float]:
    (path,) = (out / "demo" / method).glob("demo-seed0/result.json")
    result = json.loads(path.read_text())
    entries = result["metrics"]["directions"]
    assert result["run"]["checkpoint_kept"] is False and not (path.parent / "checkpoints").exists()
    return {d: entries[d]["fcn_per_pixel_acc"]["value"] for d in ("A2B", "B2A")}


def test_pix2pix_beats_gan_and_identity_in_both_directions(demo_results):
    _, out = demo_results
    acc = {m: per_pixel(out, m) for m in METHODS}
    for direction in ("A2B", "B2A"):
        assert acc["pix2pix"][direction] > acc["gan"][direction], acc
        assert acc["pix2pix"][direction] > acc["identity"][direction], acc


def test_demo_table_has_a_number_in_every_row(demo_results, capsys):
    tmp, out = demo_results
    board = tmp / "board"
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(out), "--out", str(board), "--only", "demo",
                 "--schedule", "demo"]) == 0
    table = (board / "demo.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| ")}
    for method in ("pix2pix", "gan", "identity", "demo oracle on the real test photos"):
        row = next(line for name, line in rows.items() if name.strip("_*") == method)
        assert any(ch.isdigit() for ch in row), row
    assert "demo oracle" in table.splitlines()[0]  # the caption names the instrument
