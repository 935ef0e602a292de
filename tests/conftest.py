"""Shared fixtures: the real data folder beside the checkout, and an isolated harness cache."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _quiet_and_single_threaded():
    os.environ.setdefault("TQDM_DISABLE", "1")
    # Tests never download (the Inception weights would otherwise be fetched from GitHub); the
    # download tests lift this for their own loopback server.
    os.environ.setdefault("HARNESS_OFFLINE", "1")
    # One intra-op thread: the test networks are tiny, and on a 2-core machine shared with other
    # work two threads per process oversubscribe the cores and run many times slower.
    torch.set_num_threads(1)


def shared_data(name: str) -> Path:
    """A folder of ../shared/data, or skip the test saying which folder is missing."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real data folder {path} is absent")
    return path
