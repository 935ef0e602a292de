"""The command line says each thing once and refuses bad input before any work: suggestions from the
sub-command that was typed, every method's fit to the task and --tensorboard checked before training,
`harness results` fitting a terminal and exiting 2 on an unknown name."""
from __future__ import annotations

import argparse
import importlib.util

import pytest

from harness.cli import build_parser, main as cli_main
from test_leaderboard import kid, write_result


def _error(capsys, argv: list[str]) -> tuple[int, str]:
    try:
        code = cli_main(argv)
    except SystemExit as exc:  # argparse errors
        code = exc.code
    return code, capsys.readouterr().err


def test_suggestions_come_from_the_typed_subcommand(capsys):
    code, err = _error(capsys, ["run", "--task", "demo", "--methods", "gan", "--seeds", "0", "1"])
    assert code == 2 and "did you mean --seed?" in err  # not grid's --seeds
    code, err = _error(capsys, ["run", "--task", "demo", "--methods", "gan", "--device", "gpu"])
    assert code == 2 and "did you mean 'cuda'?" in err


def test_methods_that_do_not_fit_the_task_are_all_refused_before_training(capsys, tmp_path):
    code, err = _error(capsys, ["run", "--task", "horse2zebra", "--methods", "cyclegan,pix2pix,cgan",
                                "--out", str(tmp_path / "r")])
    assert code == 2 and "pix2pix (supervised), cgan (supervised) do not fit task 'horse2zebra'" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is not None, reason="tensorboard is installed here")
def test_tensorboard_without_the_package_is_refused_before_any_work(capsys, tmp_path):
    code, err = _error(capsys, ["run", "--task", "demo", "--methods", "gan", "--tensorboard",
                                "--out", str(tmp_path / "r")])
    assert code == 2 and "pip install -e '.[tensorboard]'" in err
    assert not (tmp_path / "r").exists()  # no half-made run folder for the next run to "resume"


def test_version_list_all_and_help_for_every_option(capsys):
    with pytest.raises(SystemExit):
        cli_main(["--version"])
    assert capsys.readouterr().out.startswith("harness ")
    assert cli_main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(f"{kind}:" in out for kind in ("tasks", "methods", "schedules", "metrics", "segmenters"))
    parser = build_parser()
    missing = []
    for sub in parser._subparsers._group_actions[0].choices.values():  # every option has a one-line help
        missing += [f"{sub.prog} {a.option_strings or a.dest}" for a in sub._actions
                    if not a.help and not isinstance(a, argparse._SubParsersAction)]
    assert missing == []


def test_evaluate_names_a_missing_run_folder(capsys, tmp_path):
    code, err = _error(capsys, ["evaluate", str(tmp_path / "nope")])
    assert code == 2 and "no such folder" in err


def test_results_fits_the_terminal_and_unknown_names_exit_2(capsys, tmp_path, monkeypatch):
    root = tmp_path / "results"
    for method, value in (("cyclegan", 3.0), ("unit", 2.0)):
        write_result(root, "horse2zebra", method, 0, {"A2B": {"target_kid_x100": kid(value, 0.2)},
                                                      "B2A": {"target_kid_x100": kid(value, 0.2)}})
    monkeypatch.setenv("COLUMNS", "80")
    assert cli_main(["results", "--results", str(root)]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80
    lines = out.splitlines()
    assert lines.index(next(x for x in lines if x.startswith("UNIT"))) < \
        lines.index(next(x for x in lines if x.startswith("CycleGAN")))  # lower KID first, display names
    assert "best on horse2zebra: H2Z: UNIT" in out
    assert cli_main(["results", "--results", str(root), "--report", "report/index.html"]) == 0
    out = capsys.readouterr().out
    closing = " ".join(out[out.index("best on"):].split())  # wrapped at 80 columns, one sentence
    assert "UNIT" in closing and closing.endswith("open report/index.html")
    code, err = _error(capsys, ["results", "--results", str(root), "--task", "hors2zebra"])
    assert code == 2 and "did you mean horse2zebra?" in err
    code, err = _error(capsys, ["results", "--results", str(root), "--method", "cyclgan"])
    assert code == 2 and "did you mean cyclegan?" in err
