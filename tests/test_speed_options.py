"""Speed options of `harness run`: listed in --help, recorded in result.json, not part of the run id."""
from __future__ import annotations

import json

from harness.cli import main
from harness.pipeline import RunSpec


def test_speed_options_are_in_the_help(capsys):
    try:
        main(["run", "--help"])
    except SystemExit:
        pass
    out = capsys.readouterr().out
    for option in ("--memory-format", "--fused-adam", "--compile-mode", "--compile", "reduce-overhead",
                   "max-autotune", "channels_last", "contiguous"):
        assert option in out


def test_speed_options_are_recorded_and_leave_the_run_id_alone(tmp_path, capsys):
    assert main(["run", "--task", "demo", "--methods", "identity", "--device", "cpu", "--out", str(tmp_path),
                 "--memory-format", "channels_last", "--fused-adam", "--compile-mode", "reduce-overhead"]) == 0
    path = capsys.readouterr().out.strip().splitlines()[-1]
    assert path == str(RunSpec("demo", "identity", out=str(tmp_path)).run_dir / "result.json")
    result = json.loads(open(path).read())
    device = result["environment"]["device"]
    assert device["memory_format"] == "channels_last" and device["channels_last"] is True
    assert device["adam"] == "fused" and device["compile"] == {"enabled": False}
    assert result["translate_dtype"] == "float32"
    spec = json.loads(open(path.replace("result.json", "run.json")).read())["spec"]
    assert (spec["memory_format"], spec["fused_adam"], spec["compile_mode"]) == ("channels_last", True,
                                                                                 "reduce-overhead")
