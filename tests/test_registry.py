from __future__ import annotations

import pytest

from harness.cli import main
from harness.errors import UnknownNameError, did_you_mean
from harness.registry import METHODS, TASKS, Registry


def test_did_you_mean_ranks_closest_names():
    assert did_you_mean("cyclegna", ["cyclegan", "stargan", "unit"])[0] == "cyclegan"
    assert did_you_mean("horse2zebr", TASKS.names())[0] == "horse2zebra"
    assert did_you_mean("zzzzzz", ["cyclegan"]) == []


def test_unknown_name_lists_valid_names_and_suggestion():
    with pytest.raises(UnknownNameError) as info:
        METHODS.get("cyclegna")
    message = str(info.value)
    assert "did you mean 'cyclegan'" in message
    assert "cyclegan" in message.splitlines()[-1]
    assert info.value.exit_code == 2


def test_registry_rejects_duplicates_bad_names_and_wrong_types():
    reg: Registry = Registry("widget", base=int)
    with pytest.raises(ValueError):
        reg.register("bad name", int)
    with pytest.raises(TypeError):
        reg.register("s", str)
    reg.register("b", bool)
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("b", int)
    assert reg.names() == ["b"]


@pytest.mark.parametrize("argv, expected", [
    (["run", "--task", "horse2zebr", "--methods", "cyclegan"], "did you mean 'horse2zebra'"),
    (["run", "--task", "demo", "--methods", "cyclegna"], "did you mean 'cyclegan'"),
    (["run", "--task", "demo", "--methods", "cyclegan", "--schedule", "smok"], "did you mean 'smoke'"),
    (["list", "method"], "did you mean 'methods'"),
])
def test_cli_unknown_names_exit_2_with_suggestion(argv, expected, capsys):
    with pytest.raises(SystemExit) as info:
        raise SystemExit(main(argv))
    assert info.value.code == 2
    assert expected in capsys.readouterr().err


def test_cli_unknown_option_suggests_the_right_one(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "--task", "demo", "--methods", "cyclegan", "--shedule", "smoke"])
    assert info.value.code == 2
    assert "did you mean --schedule" in capsys.readouterr().err


def test_list_prints_name_then_description(capsys):
    assert main(["list", "tasks"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    names = [line.split()[0] for line in lines]
    assert names == sorted(TASKS.names())
    for required in ("apple2orange", "horse2zebra", "day2night", "summer2winter", "cityscapes", "webcam_day2night",
                     "demo"):
        assert required in names
    assert all(len(line.split(None, 1)) == 2 for line in lines)
    assert main(["list", "methods"]) == 0
    assert "cyclegan" in [line.split()[0] for line in capsys.readouterr().out.splitlines()]
