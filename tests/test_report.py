"""`harness report`: the static site from result files, checked as files and in a real headless browser.

The browser checks need Chromium (`apt-get install chromium`; `./run.sh test` installs it where it
can); without it they are skipped with that reason.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.cli import main as cli_main
from harness.leaderboard.specs import load_tables
from harness.report import write_report
from test_leaderboard import kid, write_result

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
CHECK_SCRIPT = """<script>window.addEventListener('load', () => { document.body.dataset.broken =
Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute('src')).join(' ');
document.body.dataset.tables = Array.from(document.querySelectorAll('table[data-table]')).map(t => t.dataset.table)
.join(' '); });</script>"""


def _png(path: Path, colour: tuple[int, int, int], size: int = 16, width: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, width or size, 3), colour, np.uint8)).save(path)


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """Two demo runs with everything a run folder holds (losses, samples, snapshots, translations, split)
    over a small aligned A|B data folder, plus a horse2zebra run with only its result file."""
    data = tmp_path / "data"
    for i in range(3):
        _png(data / "test" / f"{i:03d}.png", (200, 10 * i, 0), width=32)  # aligned A|B file
    root = tmp_path / "results"
    for method, value in (("cyclegan", 3.0), ("asgit-pha-rhp", 2.0)):
        path = write_result(root, "demo", method, 0, {"A2B": {"target_kid_x100": kid(value, 0.2)}}, schedule="smoke")
        run = path.parent
        result = json.loads(path.read_text())
        result["data"]["root"] = str(data)
        result["translations"] = {"A2B": {"dir": "translations/A2B", "n_images": 3}}
        result["samples"] = {"A2B": {"file": "samples_A2B.png", "columns": ["input", "output"], "n_images": 3}}
        path.write_text(json.dumps(result))
        for i in range(3):
            _png(run / "translations" / "A2B" / f"{i:03d}.png", (0, 100, 40 * i))
        _png(run / "samples_A2B.png", (10, 10, 10))
        _png(run / "snapshots" / "step0000005_A2B.png", (50, 50, 50))
        (run / "losses.jsonl").write_text("".join(json.dumps({"step": s, "epoch": 0, "G_gan": 1.0 / s, "D_A": 0.5})
                                                  + "\n" for s in range(1, 6)) + '{"step": 6, "G_', encoding="utf-8")
        (run / "split.json").write_text(json.dumps({"lines": [f"test\t{side}\t{i:03d}\ttest/{i:03d}.png\t{half}"
                                                             for i in range(3) for side, half in
                                                             (("A", "left"), ("B", "right"))]}))
    write_result(root, "horse2zebra", "cyclegan", 0, None)
    return root


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        for key in ("href", "src"):
            if attrs.get(key):
                self.refs.append(attrs[key])


def test_site_has_every_table_and_page_with_relative_links_that_resolve(results, tmp_path):
    index = write_report(results, tmp_path / "site")
    site = index.parent
    html = index.read_text(encoding="utf-8")
    for spec in load_tables():
        assert f'data-table="{spec.name}"' in html, spec.name
    assert "notes (" in html and "Table 2: target-KID" in html
    pages = sorted(site.rglob("*.html"))
    assert {p.relative_to(site).as_posix() for p in pages} >= {
        "index.html", "tasks/demo.html", "tasks/horse2zebra.html", "runs/demo--cyclegan--smoke-seed0.html",
        "runs/demo--asgit-pha-rhp--smoke-seed0.html", "runs/horse2zebra--cyclegan--short-seed0.html"}
    for page in pages:
        parser = _Links()
        parser.feed(page.read_text(encoding="utf-8"))
        for ref in parser.refs:
            assert not re.match(r"^([a-z]+:|/)", ref), f"{page}: {ref} is not relative"
            target, _, anchor = ref.partition("#")
            assert (page.parent / target).resolve().is_file() if target else anchor in parser.ids, f"{page}: {ref}"
    run_page = (site / "runs" / "demo--cyclegan--smoke-seed0.html").read_text(encoding="utf-8")
    assert "Loss curves" in run_page and "step 5" in run_page and "target_kid_x100" in run_page
    assert run_page.index("target_kid_x100") < run_page.index("Loss curves") < run_page.index("Config")
    assert "harness run --task demo --methods cyclegan --schedule smoke --seed 0" in run_page
    assert (site / "img" / "demo--cyclegan--smoke-seed0" / "losses.png").is_file()
    assert (site / "img" / "demo--cyclegan--smoke-seed0" / "losses.svg").is_file()
    for ext in ("md", "tex", "csv"):
        assert (site / "tables" / f"demo.{ext}").is_file()
    figure = Image.open(site / "img" / "task-demo--smoke--A2B.png")
    assert figure.width > figure.height  # input, two methods, ground truth side by side


def test_report_replaces_the_site_as_a_whole_and_cli_prints_the_path(results, tmp_path, capsys):
    out = tmp_path / "site"
    (out / "runs").mkdir(parents=True)
    (out / "runs" / "gone--run.html").write_text("stale", encoding="utf-8")
    (out / ".harness-output").write_text("a previous report\n", encoding="utf-8")  # only its own folder is replaced
    assert cli_main(["report", "--results", str(results), "--out", str(out)]) == 0
    assert f"report -> {out / 'index.html'}" in capsys.readouterr().out
    assert not (out / "runs" / "gone--run.html").exists()
    assert not any(p.name.startswith(".site.") for p in tmp_path.iterdir())


def test_empty_results_still_make_a_site(tmp_path):
    html = write_report(tmp_path / "none", tmp_path / "site").read_text(encoding="utf-8")
    assert "No result files" in html and 'data-table="table1"' in html


def _browser() -> str:
    found = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if found is None:
        reason = "no Chromium found (apt-get install chromium); the headless-browser checks of the report are skipped"
        print(reason)
        pytest.skip(reason)
    return found


def _in_browser(browser: str, page: Path, *flags: str) -> str:
    proc = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
                           *flags, page.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.slow  # a browser process per page
def test_every_page_renders_in_headless_chromium_without_broken_images(results, tmp_path):
    browser = _browser()
    site = write_report(results, tmp_path / "site").parent
    for page in sorted(site.rglob("*.html")):
        probe = page.with_name(f"_probe_{page.name}")  # beside the page, so its relative links hold
        probe.write_text(page.read_text(encoding="utf-8").replace("</body>", CHECK_SCRIPT + "</body>"),
                         encoding="utf-8")
        dom = _in_browser(browser, probe, "--virtual-time-budget=5000", "--dump-dom")
        probe.unlink()
        broken = re.search(r'data-broken="([^"]*)"', dom)
        assert broken is not None, f"{page}: the page did not finish loading"
        assert broken.group(1) == "", f"{page}: broken images {broken.group(1)}"
        if page.name == "index.html":
            shown = set(re.search(r'data-tables="([^"]*)"', dom).group(1).split())
            assert shown == {s.name for s in load_tables()}
    shot = tmp_path / "index.png"
    _in_browser(browser, site / "index.html", "--window-size=1400,1800", f"--screenshot={shot}")
    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (1800, 1400) and pixels.std() > 10  # something was drawn, not a blank page


FIRST_SCREEN_SCRIPT = """<script>window.addEventListener('load', () => {
const inView = el => { const r = el.getBoundingClientRect();
  return r.bottom > 0 && r.top < innerHeight && r.width > 0; };
document.body.dataset.firstScreen = Array.from(document.querySelectorAll('table[data-table="demo"] td'))
.filter(inView).map(td => td.textContent.trim()).filter(t => /^[0-9]/.test(t)).join(' ');
document.body.dataset.titleSizes = Array.from(document.querySelectorAll('table.sbs th.title'))
.map(th => parseFloat(getComputedStyle(th).fontSize)).join(' ');
document.body.dataset.tileWidths = Array.from(document.querySelectorAll('table.sbs img'))
.map(i => i.getBoundingClientRect().width + '/' + i.naturalWidth).join(' '); });</script>"""


def _probe(browser: str, page: Path, tmp_path: Path) -> str:
    probe = page.with_name(f"_probe_{page.name}")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", FIRST_SCREEN_SCRIPT + "</body>"),
                     encoding="utf-8")
    try:
        return _in_browser(browser, probe, "--window-size=1400,900", "--virtual-time-budget=5000", "--dump-dom")
    finally:
        probe.unlink()


def test_first_screen_shows_a_demo_number_and_figure_titles_are_readable(results, tmp_path):
    browser = _browser()
    site = write_report(results, tmp_path / "site").parent
    dom = _probe(browser, site / "index.html", tmp_path)
    shown = re.search(r'data-first-screen="([^"]*)"', dom).group(1).split()
    assert "2.000" in shown or "3.000" in shown, shown  # the demo table's KID values, on the first screen
    dom = _probe(browser, site / "tasks" / "demo.html", tmp_path)
    sizes = [float(s) for s in re.search(r'data-title-sizes="([^"]*)"', dom).group(1).split()]
    assert len(sizes) == 4 and min(sizes) >= 10  # input, ground truth and two methods
    for pair in re.search(r'data-tile-widths="([^"]*)"', dom).group(1).split():
        shown_px, natural = (float(x) for x in pair.split("/"))
        assert shown_px >= 64 and shown_px % natural == 0  # a whole-number scale, at least 64 px


def test_task_figure_orders_methods_by_headline_and_run_page_lists_each_reason_once(results, tmp_path):
    site = write_report(results, tmp_path / "site").parent
    task = (site / "tasks" / "demo.html").read_text(encoding="utf-8")
    titles = re.findall(r'<th class="title">(?:<a [^>]*>)?([^<]+)', task)
    # display names, KID 2.0 before 3.0 (lower is better)
    assert titles == ["input", "ground truth", "Ours (PHA+RHP)", "CycleGAN"]
    index = (site / "index.html").read_text(encoding="utf-8")
    assert index.index('data-table="demo"') < index.index('data-table="table1"')  # numbers before empty tables
    assert "filled by runs on" in index and 'href="runs/demo--cyclegan--smoke-seed0.html"' in index
    run = json.loads((results / "demo" / "cyclegan" / "smoke-seed0" / "result.json").read_text())
    reason = "Inception weights not found at /somewhere; fix: get them, then run `harness evaluate RUN_DIR`"
    run["metrics"]["directions"]["B2A"] = {m: {"status": "unavailable", "reason": reason}
                                           for m in ("target_kid_x100", "fused_kid_x100", "target_fid")}
    (results / "demo" / "cyclegan" / "smoke-seed0" / "result.json").write_text(json.dumps(run))
    page = (write_report(results, tmp_path / "site2").parent / "runs" / "demo--cyclegan--smoke-seed0.html")
    assert page.read_text(encoding="utf-8").count("Inception weights not found") == 1


def test_loss_panels_group_by_family_with_one_spelling():
    from harness.report.figures import loss_family, loss_name
    families = {n: loss_family(loss_name(n)) for n in ("G_gan_AB", "G_L1_A2B", "G_l1_B2A", "D_A", "NCE_A2B",
                                                         "G_A_gan", "cycle_A")}
    assert families == {"G_gan_AB": "gan", "G_L1_A2B": "l1", "G_l1_B2A": "l1", "D_A": "D", "NCE_A2B": "nce",
                        "G_A_gan": "gan", "cycle_A": "cycle"}  # L1 (×100) never shares the GAN terms' axis
    assert loss_name("G_L1_A2B") == "G_l1_A2B" and loss_name("D_A") == "D_A"


def test_report_files_are_readable_by_others_under_umask_022(results, tmp_path):
    import os
    import stat
    old = os.umask(0o022)
    try:
        site = write_report(results, tmp_path / "site").parent
    finally:
        os.umask(old)
    unreadable = [p for p in site.rglob("*") if p.is_file() and not p.stat().st_mode & stat.S_IROTH]
    assert unreadable == []  # atomic writes used to leave mkstemp's 0600
