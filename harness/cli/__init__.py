"""The `harness` command line: thin verbs over the pipeline, registries and result files.

Each verb lives in its own module listed in `COMMAND_MODULES`; everything else is config.
Errors the user can fix print one clear message (exit 1); wrong names or options exit 2
with did-you-mean suggestions.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys
from typing import Callable, Optional

from harness.errors import HarnessError, did_you_mean
from harness.io import describe_os_error

# Modules of this package that each define `add_parser(subparsers)` for their verbs, in help order.
COMMAND_MODULES = ("harness.cli.list_cmd", "harness.cli.run_cmd", "harness.cli.evaluate_cmd",
                   "harness.cli.leaderboard_cmd", "harness.cli.claims_cmd", "harness.cli.report_cmd", "harness.cli.results_cmd",
                   "harness.cli.data_cmd",
                   "harness.cli.grid_cmd", "harness.cli.bench_cmd")


OWN_LOGGERS = ("harness", "methods", "baselines")


# Words people type for a choice that has another name here.
CHOICE_ALIASES = {"gpu": "cuda", "nvidia": "cuda", "cuda:0": "cuda"}


class Parser(argparse.ArgumentParser):
    """argparse with did-you-mean for unknown options and choices, exit code 2. An unknown option is
    matched against the options of the sub-command it was given to only."""

    _argv: list[str] = []

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        self._argv = list(sys.argv[1:] if args is None else args)
        return super().parse_args(args, namespace)

    def _command_parser(self) -> argparse.ArgumentParser:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                for token in self._argv:
                    if token in action.choices:
                        return action.choices[token]
        return self

    def error(self, message: str) -> None:  # type: ignore[override]
        match = re.search(r"unrecognized arguments: (\S+)", message)
        if match:
            known = _all_options(self._command_parser())
            sugg = did_you_mean(match.group(1).split("=")[0], known)
            if sugg:
                message += f"; did you mean {sugg[0]}?"
        match = re.search(r"invalid choice: '([^']+)' \(choose from (.+)\)", message)
        if match:
            choices = re.findall(r"'([^']+)'", match.group(2)) or [c.strip() for c in match.group(2).split(",")]
            alias = CHOICE_ALIASES.get(match.group(1).lower())
            sugg = [alias] if alias in choices else did_you_mean(match.group(1), choices)
            if sugg:
                message += f"; did you mean {sugg[0]!r}?"
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _all_options(parser: argparse.ArgumentParser) -> list[str]:
    """Option strings of a parser and all its sub-commands (unknown options surface at the top)."""
    out = []
    for action in parser._actions:
        out += [s for s in action.option_strings if s.startswith("--")]
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out += _all_options(sub)
    return sorted(set(out))


def _version() -> str:
    from importlib import metadata
    for dist in ("i2i-harness", "harness"):  # the distribution's name, or an older install's
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "(not installed: run from a checkout)"


def build_parser() -> Parser:
    parser = Parser(prog="harness", description="Benchmark harness for image-to-image translation GANs.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).add_parser(sub)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Third-party libraries speak only from WARNING up (no matplotlib font-cache or torch INFO lines);
    # the harness's own packages at INFO (DEBUG with -v).
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if args.verbose else logging.INFO)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return int(handler(args) or 0)
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `harness list | head`: the reader left; nothing to report
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except OSError as exc:
        message = describe_os_error(exc)  # disk full, read-only folder: one line, not a traceback
        if message is None:
            raise
        print(f"harness: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("harness: interrupted; `harness resume RUN_DIR` continues from the last checkpoint", file=sys.stderr)
        return 130
