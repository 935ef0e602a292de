"""The report's figures are cached by what they are drawn from (harness/report/figure_cache.py): a rebuilt report
copies the figures whose inputs did not change, byte for byte what a fresh drawing gives, and redraws a
figure whose inputs changed."""
from __future__ import annotations

import json
import shutil

from harness.report import write_report


def _entries(cache) -> set[str]:
    root = cache / "figures"
    return {p.name for p in root.glob("*/*")} if root.is_dir() else set()


def test_rebuilt_report_reuses_unchanged_figures_and_redraws_changed_ones(tiny_demo_run, tmp_path, monkeypatch):
    results = tmp_path / "results"
    run = results / "demo" / "cyclegan" / tiny_demo_run.run_dir.name
    shutil.copytree(tiny_demo_run.run_dir, run)
    cache = tmp_path / "cache"
    monkeypatch.setenv("HARNESS_CACHE", str(cache))
    write_report(results, tmp_path / "site1")
    first = _entries(cache)
    losses = sorted((tmp_path / "site1").rglob("losses.png"))
    assert len(first) >= 2 and len(losses) == 1  # the run's loss curves and the task's side-by-side figure
    drawn = {p.relative_to(tmp_path / "site1"): p.read_bytes() for p in (tmp_path / "site1" / "img").rglob("*")
             if p.suffix in (".png", ".svg") and p.is_file()}

    write_report(results, tmp_path / "site2")  # every figure from the cache: nothing new is drawn
    assert _entries(cache) == first
    for rel, data in drawn.items():
        assert (tmp_path / "site2" / rel).read_bytes() == data, rel

    shutil.rmtree(cache)  # a fresh drawing of the same inputs gives the same PNG as the cached copy
    write_report(results, tmp_path / "site3")
    for rel, data in drawn.items():
        if rel.suffix == ".png":
            assert (tmp_path / "site3" / rel).read_bytes() == data, rel

    log = run / "losses.jsonl"  # new losses: that figure is drawn again, the side-by-side one reused
    last = json.loads(log.read_text().splitlines()[-1])
    log.write_text(log.read_text() + json.dumps({**last, "step": last["step"] + 1}) + "\n")
    before = _entries(cache)
    write_report(results, tmp_path / "site4")
    assert len(_entries(cache) - before) == 1
    loss_rel = losses[0].relative_to(tmp_path / "site1")
    assert (tmp_path / "site4" / loss_rel).read_bytes() != drawn[loss_rel]
