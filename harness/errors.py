"""Error types the CLI turns into clear messages and exit codes.

`HarnessError` is any failure the user can fix (bad data, missing weights, a resume
past the schedule); `UsageError` is a wrong name or option on the command line and
exits with code 2 like argparse does.
"""
from __future__ import annotations

import difflib
from typing import Iterable


class HarnessError(Exception):
    """A failure with a message that says what is wrong and how to fix it."""

    exit_code = 1


class UsageError(HarnessError):
    """A wrong name, value or option given by the user (exit code 2)."""

    exit_code = 2


def did_you_mean(name: str, valid: Iterable[str], n: int = 3) -> list[str]:
    """Closest valid names to `name`, best first (case-insensitive)."""
    valid = list(valid)
    lowered = {v.lower(): v for v in valid}
    matches = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.5)
    # Substring hits catch prefixes ("asgit" for "asgit-pha-rhp") that ratio matching misses.
    for v in valid:
        if name.lower() in v.lower() and v.lower() not in matches and len(matches) < n:
            matches.append(v.lower())
    return [lowered[m] for m in matches]


class UnknownNameError(UsageError, KeyError):
    """An unregistered name, with suggestions and the list of valid names."""

    def __init__(self, kind: str, name: str, valid: Iterable[str], where: str = ""):
        self.kind, self.name = kind, name
        self.valid = sorted(valid)
        self.suggestions = did_you_mean(name, self.valid)
        hint = f"; did you mean {', '.join(repr(s) for s in self.suggestions)}?" if self.suggestions else ""
        place = f" in {where}" if where else ""
        listing = ", ".join(self.valid) if self.valid else "(none registered)"
        super().__init__(f"unknown {kind} {name!r}{place}{hint}\nvalid {kind}s: {listing}")

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0]
