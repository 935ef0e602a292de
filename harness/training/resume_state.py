"""What a resumed run restores besides the checkpoint's tensors: the loss log and interval sums.

A resumed run must log exactly what an uninterrupted one would: `losses.jsonl` is cut back to the
checkpoint's step (lines written after it are written again by the resumed run), and the loss sums
of the logging interval in progress travel in the checkpoint.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import torch

from harness.errors import HarnessError
from harness.io import write_text

if TYPE_CHECKING:
    from harness.training.step import LossTracker

log = logging.getLogger("harness.trainer")


def tracker_state(tracker: Optional["LossTracker"]) -> dict[str, Any]:
    """The interval's running sums as plain data and CPU tensors (checkpoint-safe)."""
    if tracker is None:
        return {}
    return {"loss_sums": {k: v.detach().cpu() for k, v in tracker.sums.items()},
            "loss_counts": dict(tracker.counts), "loss_bad": bool(tracker.bad)}


def restore_tracker(tracker: "LossTracker", saved: dict[str, Any]) -> None:
    device = tracker.bad.device
    tracker.sums = {k: v.to(device) for k, v in saved.get("loss_sums", {}).items()}
    tracker.counts = dict(saved.get("loss_counts", {}))
    tracker.bad = torch.tensor(bool(saved.get("loss_bad", False)), device=device)


def truncate_loss_log(path: Path, step: int) -> dict[str, float]:
    """Keep the lines of `path` up to `step` (atomically); return the last kept line's losses."""
    if not path.exists():
        return {}
    kept, last = [], {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a kill: written again by the resumed run
        if entry.get("step", step + 1) <= step:
            kept.append(line)
            last = {k: v for k, v in entry.items() if k not in ("step", "epoch")}
    write_text(path, "".join(line + "\n" for line in kept))
    return last


def use_previous(latest: Path, previous: Path) -> None:
    """`--from-previous`: set the damaged `latest` aside (kept for inspection) and continue from `previous`."""
    if not previous.exists():
        raise HarnessError(f"--from-previous: there is no {previous} to continue from")
    if latest.exists():
        damaged = latest.with_name(latest.name + ".damaged")
        os.replace(latest, damaged)
        log.warning("set %s aside as %s; continuing from %s", latest, damaged.name, previous)
    try:
        os.link(previous, latest)
    except OSError:  # file systems without hard links
        shutil.copyfile(previous, latest)
    digests = previous.with_name(previous.name + ".sha256")  # latest's digest file: previous's, as the file is
    if digests.is_file():
        shutil.copyfile(digests, latest.with_name(latest.name + ".sha256"))
    else:
        latest.with_name(latest.name + ".sha256").unlink(missing_ok=True)
