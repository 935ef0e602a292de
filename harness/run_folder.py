"""Guards around one run folder: names that stay inside --out, a lock per folder, and the record
of what a run was trained on, which a resume must match.

Why a lock: two processes on one folder would both load the same checkpoint and overwrite each
other's. `fcntl.flock` is released by the kernel when its holder dies, so a lock left by a
killed run is taken over without anyone deleting files by hand.
"""
from __future__ import annotations

import fcntl
import os
import re
import stat
from pathlib import Path
from typing import Any, Optional

from harness.config import from_dict
from harness.errors import HarnessError, UsageError
from harness.registry import SCHEDULES

LOCK_NAME = "run.lock"
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")


def check_name(value: str, what: str) -> str:
    """A task, method or schedule name used as a folder name: one plain word, no path parts."""
    if not isinstance(value, str) or not _SAFE_NAME.fullmatch(value) or ".." in value:
        raise UsageError(f"{what} name {value!r} cannot be a folder name: use letters, digits and . _ + - "
                         "(starting with a letter or digit, no '..'); rename it where it is defined")
    return value


class RunLock:
    """Exclusive lock on a run folder; a second process gets an error naming the holder's pid."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_NAME
        self._fd: Optional[int] = None

    def __enter__(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            try:  # never through a symlink planted as run.lock: it would overwrite its target with our pid
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
            except OSError:
                if self.path.is_symlink() or not self.path.is_file():
                    raise HarnessError(f"{self.path} is not a plain file (a symlink or special file); remove it "
                                       "and run again") from None
                raise
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise HarnessError(f"{self.path} is not a plain file (a FIFO or device); remove it and run again")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise HarnessError(f"{self.path.parent} is in use by process {holder} (lock {self.path}); wait for "
                                   "it to end or stop it; a lock whose process has ended is taken over") from None
            # The holder may have removed the file between our open and flock: lock the current one.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None

    def clear_folder(self) -> None:
        """`--force`: delete everything in the folder but the lock itself."""
        import shutil
        for child in self.path.parent.iterdir():
            if child != self.path:
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()


def trained_on(prepared: Any, schedule: Any, method_config: dict, train: dict) -> dict[str, Any]:
    """What a checkpoint's training depended on; kept in run.json and compared on every resume."""
    import dataclasses
    return {"data_manifest_digest": prepared.manifest.digest, "split_digest": prepared.split.digest,
            "schedule": _plain(dataclasses.asdict(schedule)), "method_config": _plain(method_config),
            "train_options": _plain(train)}


def _plain(obj: Any) -> Any:
    """JSON's view of a value (tuples become lists), so a value read back from run.json compares equal."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


TRAINED_ON_KEYS = {"data_manifest_digest": str, "split_digest": str, "schedule": dict, "method_config": dict,
                   "train_options": dict}
SPEC_TYPES = {"task": str, "method": str, "schedule": str, "seed": int, "device": str, "out": str,
              "overrides": dict, "train": dict, "compile": bool, "world_size": int, "tensorboard": bool}


def read_run_record(path: Path) -> dict[str, Any]:
    """run.json as a resume needs it, or a one-line error naming the field that is wrong: the file is
    written by `harness run` and may have been edited by hand since."""
    import json
    fix = "restore it (version control or a backup), or start the run over with `harness run ... --force`"
    from harness.safety.paths import require_regular_file
    require_regular_file(path)  # a FIFO would hang the read
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise HarnessError(f"{path} is not readable JSON ({type(exc).__name__}); {fix}") from None
    spec = record.get("spec") if isinstance(record, dict) else None
    if not isinstance(spec, dict):
        raise HarnessError(f"{path} has no 'spec' mapping; {fix}")
    for key, kind in SPEC_TYPES.items():
        value = spec.get(key)
        if key in spec and value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
            raise HarnessError(f"{path}: spec.{key} is {value!r}, not a {kind.__name__}; {fix}")
    for key in ("task", "method"):
        if key not in spec:
            raise HarnessError(f"{path}: spec.{key} is missing; {fix}")
    saved = record.get("trained_on")
    if not isinstance(saved, dict):
        raise HarnessError(f"{path} has no 'trained_on' record, so nothing shows what the checkpoint was trained on "
                           "and a resume could silently continue on other data or settings; resume it with the "
                           f"harness version that wrote it, or start over with --force")
    for key, kind in TRAINED_ON_KEYS.items():
        if not isinstance(saved.get(key), kind):
            raise HarnessError(f"{path}: trained_on.{key} is missing or not a {kind.__name__}; {fix}")
    return record


def check_drift(run_dir: Path, saved: Optional[dict[str, Any]], now: dict[str, Any], data_root: Any) -> None:
    """Refuse to resume when what the run was trained on changed; say what changed and what to do."""
    if not isinstance(saved, dict):
        raise HarnessError(f"cannot resume {run_dir}: its run.json has no 'trained_on' record to check the data and "
                           "settings against; start it over with `harness run ... --force`")
    changes = []
    if saved["data_manifest_digest"] != now["data_manifest_digest"]:
        changes.append(f"the data (manifest digest {saved['data_manifest_digest'][:12]}… then, "
                       f"{now['data_manifest_digest'][:12]}… now under {data_root}); point --data-root at the data "
                       "the run started with")
    if saved["split_digest"] != now["split_digest"]:
        changes.append(f"the split (digest {saved['split_digest'][:12]}… in {run_dir / 'split.json'}, "
                       f"{now['split_digest'][:12]}… now)")
    for key, label, fix in (("schedule", "the schedule", "restore the schedule file as it was"),
                            ("method_config", "the method config", "restore the method's defaults or --set values"),
                            ("train_options", "the trainer options", "pass the options the run started with")):
        diff = _differences(saved.get(key) or {}, now.get(key) or {})
        if diff:
            changes.append(f"{label} ({diff}); {fix}")
    if changes:
        raise HarnessError(f"cannot resume {run_dir}: its checkpoint was trained on other inputs: "
                           + "; and ".join(changes)
                           + ". Otherwise start it over with `harness run ... --force` (discards its training)")


def _differences(before: dict[str, Any], after: dict[str, Any], limit: int = 4) -> str:
    keys = sorted(k for k in set(before) | set(after) if before.get(k, "<absent>") != after.get(k, "<absent>"))
    parts = [f"{k}: {before.get(k, '<absent>')!r} then, {after.get(k, '<absent>')!r} now" for k in keys[:limit]]
    return ", ".join(parts) + (f", and {len(keys) - limit} more" if len(keys) > limit else "")


def register_saved_schedule(name: Any, saved: Optional[dict[str, Any]], spec_file: Path) -> None:
    """A schedule given as a file when the run started: rebuild it from run.json (the file may be gone or
    edited since; an edited registered schedule is caught by the drift check)."""
    if not isinstance(name, str) or saved is None or name in SCHEDULES:
        return
    from harness.schedules import Schedule
    check_name(name, f"schedule (in {spec_file})")
    schedule = from_dict(Schedule, saved, where=f"{spec_file} schedule")
    if schedule.name != name:
        raise HarnessError(f"{spec_file}: its schedule is named {schedule.name!r}, not {name!r}")
    SCHEDULES.register(name, schedule, description=schedule.description)
