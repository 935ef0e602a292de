"""Shared fixtures: the real data folder beside the checkout, and an isolated harness cache."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _quiet_progress():
    os.environ.setdefault("TQDM_DISABLE", "1")


def shared_data(name: str) -> Path:
    """A folder of ../shared/data, or skip the test saying which folder is missing."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real data folder {path} is absent")
    return path
