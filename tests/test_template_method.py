"""The copy-me template must stay a working method: register it under a throw-away name and run it."""
from __future__ import annotations

import pytest

from harness.pipeline import RunSpec, execute
from harness.registry import METHODS
from harness.results import load_result
from methods._template import TemplateMethod


@pytest.fixture
def registered_template():
    METHODS.register("template-under-test", TemplateMethod, description="test-only")
    yield "template-under-test"
    METHODS.unregister("template-under-test")


def test_template_is_not_registered_by_discovery():
    assert "template-under-test" not in METHODS.names()
    assert all(e.obj is not TemplateMethod for e in METHODS.entries())


def test_template_trains_and_writes_a_result(registered_template, tmp_path):
    run_dir = execute(RunSpec("demo", registered_template, "smoke", device="cpu", out=str(tmp_path)))
    result = load_result(run_dir / "result.json")
    assert result["config"]["method"]["lambda_cycle"] == 10.0
    assert set(result["run"]["last_losses"]) == {"G_gan", "G_cycle", "D"}
    assert result["translations"]["A2B"]["n_images"] == 16
