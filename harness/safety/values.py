"""Ranges of config values (schedules, method configs, `--set`), checked when the config is built, so a
zero width or a negative learning rate is a one-line usage error before any training, not a traceback
from inside torch or a run recorded `complete` after zero steps.

Rules by field name (configs are data; one rule covers every method):
  lr                              > 0
  lambda_*, *_weight, pool_size   >= 0
  betas                           each in [0, 1)
  n*, *_dim, *_size, *_every,     whole numbers >= 1 (widths, block counts, sizes, intervals)
  epochs_*                        >= 0, and a schedule has at least one epoch
  every number                    finite
"""
from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

from harness.errors import UsageError

_AT_LEAST_ONE = re.compile(r"(n[a-z_]*|ngf|ndf|.*_dim|.*_size|.*_every|max_iters_per_epoch|image_size)")
_NON_NEGATIVE = re.compile(r"(pool_size|lambda.*|.*_weight|epochs_.*|sample_count|.*_count)")


def _bad(where: str, name: str, value: Any, rule: str) -> UsageError:
    return UsageError(f"{where}: {name}={value!r} {rule}" if where else f"{name}={value!r} {rule}")


def check_values(obj: Any, where: str = "") -> None:
    """Raise a one-line UsageError for the first value out of range in dataclass `obj`."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        numbers = value if isinstance(value, (list, tuple)) else [value]
        for v in numbers:
            if isinstance(v, float) and not math.isfinite(v):
                raise _bad(where, f.name, value, "is not a finite number")
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float, list, tuple)):
            continue
        if f.name == "lr" and not value > 0:
            raise _bad(where, f.name, value, "must be greater than 0")
        if f.name == "betas" and not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in value):
            raise _bad(where, f.name, value, "must be numbers in [0, 1)")
        if isinstance(value, (list, tuple)):
            continue
        if _NON_NEGATIVE.fullmatch(f.name):
            if value < 0:
                raise _bad(where, f.name, value, "must be at least 0")
        elif _AT_LEAST_ONE.fullmatch(f.name) and isinstance(value, int) and value < 1:
            raise _bad(where, f.name, value, "must be a whole number of at least 1")
    if hasattr(obj, "epochs_constant") and hasattr(obj, "epochs_decay") and obj.epochs_constant + obj.epochs_decay < 1:
        raise UsageError(f"{where}: epochs_constant + epochs_decay is 0; a schedule trains at least one epoch")
