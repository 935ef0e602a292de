"""Shared fixtures: the real data folder beside the checkout, a per-worker harness cache, and one
tiny trained demo run that tests read instead of training their own.

The suite runs on every core with pytest-xdist (`./run.sh test` passes `-n auto`), so every test must be
safe beside other test processes:

- Write only under `tmp_path` / `tmp_path_factory` (a folder per worker); never into the checkout or $HOME.
- The harness cache (`HARNESS_CACHE`: generated demo data, real-image features) is a per-worker folder
  set below for the whole session, with the demo data already in it, so child processes started by
  tests (torchrun ranks, killed runs) never generate it at the same time. A test that needs an empty
  cache sets its own with `monkeypatch.setenv("HARNESS_CACHE", ...)`.
- Change environment variables, registries and globals only through `monkeypatch` or a fixture that
  undoes them; servers bind port 0 (the system picks a free port).
- One torch thread per process (set below; child processes get OMP_NUM_THREADS=1): two workers on two
  cores already use every core.
- Share expensive setup through fixtures instead of training again: `tiny_demo_run` (below) is a
  complete CycleGAN smoke run. The suite runs with `--dist loadfile`: all tests of a file on one worker (but
  those of SPREAD_FILES below), so a module-scoped fixture is built once and a session-scoped one once per
  worker using it.
- Mark a test `@pytest.mark.slow` only when it cannot be made small (`-m "not slow"` is the quick loop).
"""
from __future__ import annotations

import os
from pathlib import Path

# Before torch starts its thread pool, and inherited by every process a test starts.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# Narrow CycleGAN networks: the same architecture and losses as the default, a hundredth of the weights.
TINY_CYCLEGAN = {"ngf": 8, "ndf": 8, "n_blocks": 2}


@pytest.fixture(scope="session", autouse=True)
def _quiet_single_threaded_and_private_cache(tmp_path_factory):
    from harness.data.demo import ensure_demo_data
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TQDM_DISABLE", os.environ.get("TQDM_DISABLE", "1"))
        # Tests never download (the Inception weights would otherwise be fetched from GitHub); the
        # download tests lift this for their own loopback server.
        mp.setenv("HARNESS_OFFLINE", os.environ.get("HARNESS_OFFLINE", "1"))
        # A cache per worker: tests never read what another run of the suite (or the user) left there.
        mp.setenv("HARNESS_CACHE", str(tmp_path_factory.getbasetemp() / "harness-cache"))
        ensure_demo_data()
        # One intra-op thread: the test networks are tiny, and on a 2-core machine shared with other
        # work two threads per process oversubscribe the cores and run many times slower.
        torch.set_num_threads(1)
        yield


def shared_data(name: str) -> Path:
    """A folder of ../shared/data, or skip the test saying which folder is missing."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real data folder {path} is absent")
    return path


def tiny_demo_spec(out: Path, seed: int = 0):
    """The run `tiny_demo_run` holds, or the same run (another seed) in another folder."""
    from harness.pipeline import RunSpec
    return RunSpec("demo", "cyclegan", "smoke", seed=seed, device="cpu", out=str(out), overrides=TINY_CYCLEGAN)


@pytest.fixture(scope="session")
def tiny_demo_run(tmp_path_factory):
    """The RunSpec of a complete CycleGAN smoke run on `demo` (tiny networks, seed 0, checkpoint kept:
    9 steps, translations, samples, losses, evaluation), trained once per worker; its folder is
    `tiny_demo_run.run_dir`. Read it, never change it: copy the folder into tmp_path to change it."""
    from harness.pipeline import execute
    spec = tiny_demo_spec(tmp_path_factory.mktemp("tiny-demo-run"))
    execute(spec)
    return spec


# Files whose tests share nothing costly at module scope: spread over the workers test by test. The many small
# hostile-input cases run last, so they fill whatever time the other worker still needs at the end.
SPREAD_FILES = ("test_hostile_results.py", "test_hostile_report.py",
                "test_fault_tolerance.py")  # each of its two kill tests trains its own method's clean run
# Files whose tests take the longest together (`--durations`, 2026-12): started first, so that no long file
# starts last and leaves the other worker idle.
LONG_FILES = ("test_fault_tolerance.py", "test_demo_ranking.py", "test_supervised.py", "test_report.py",
              "test_preemption.py", "test_unsupervised_baselines.py", "test_grid.py", "test_gpu_rehearsal.py")


def _file_order(items) -> None:
    """Long files first, the small spread cases last (stable: the collection order within each rank)."""
    def rank(item) -> int:
        name = item.path.name
        return 0 if name in LONG_FILES else (2 if name in SPREAD_FILES else 1)
    items.sort(key=rank)


@pytest.hookimpl(optionalhook=True)  # a pytest without xdist (a plain `pytest` run) does not know the hook
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile` (`./run.sh test`): all tests of a file on one worker, so its module fixtures are built
    once, except SPREAD_FILES, whose tests go to whichever worker is free. (xdist's `loadgroup` would say the
    same with marks, but pytest 9 ignores the node ids it rewrites for them.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FilesButSpreadOnes(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            file = nodeid.split("::", 1)[0]
            return nodeid if Path(file).name in SPREAD_FILES else file

    return FilesButSpreadOnes(config, log)


def pytest_collection_modifyitems(config, items):
    """`compile_all` tests (minutes of torch.compile per method) run only when the -m expression names them;
    the order for parallel workers (`_file_order`)."""
    if "compile_all" not in (config.option.markexpr or ""):
        kept = [item for item in items if "compile_all" not in item.keywords]
        if len(kept) != len(items):
            config.hook.pytest_deselected(items=[item for item in items if "compile_all" in item.keywords])
            items[:] = kept
    _file_order(items)
