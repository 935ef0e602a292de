"""Replace a generated folder as a whole: build the new set beside it, then swap it in.

A refused or interrupted build never leaves a mix of old and new files under the real name:
the new set is written into `.<name>.partial` (starting from a copy of the current folder, so
files this build does not rewrite, such as a refused table's last good version, are kept), and
only a complete set is moved into place. The swap is two renames (old → `.<name>.old`, new → name);
a kill between them leaves the old set as `.<name>.old`, which the next build puts back first.
A write the file system refuses (disk full) is one error naming the folder, and no `.partial` stays.
"""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from harness.io import WriteError, describe_os_error
from harness.safety.out_folder import MARKER_NAME, marker_text


def recover_interrupted_swap(target: Path) -> None:
    """A kill between the two renames left the previous set only as `.<name>.old`: put it back."""
    retired = target.with_name(f".{target.name}.old")
    if not target.exists() and retired.is_dir() and not retired.is_symlink():
        os.rename(retired, target)


@contextmanager
def replace_folder(target: str | Path, keep_existing: bool = True, marker: Optional[str] = None) -> Iterator[Path]:
    """Yield a staging folder; on success it becomes `target` (the old folder is removed after the swap).

    `marker`: the command name written into the marker file that lets a later build recognise the folder
    as its own (harness.safety.out_folder)."""
    target = Path(target)
    staging = target.with_name(f".{target.name}.partial")
    retired = target.with_name(f".{target.name}.old")
    try:
        recover_interrupted_swap(target)
        shutil.rmtree(staging, ignore_errors=True)  # left by an interrupted build
        if keep_existing and target.is_dir():
            shutil.copytree(target, staging, symlinks=True)
        else:
            staging.mkdir(parents=True)
        if marker:
            (staging / MARKER_NAME).write_text(marker_text(marker), encoding="utf-8")
        yield staging
        shutil.rmtree(retired, ignore_errors=True)
        if target.exists():
            target.rename(retired)
        staging.rename(target)
        shutil.rmtree(retired, ignore_errors=True)
    except shutil.Error as exc:  # copytree gathers its failures as text, without their errno
        first = exc.args[0][0] if exc.args and exc.args[0] else ("?", "?", str(exc))
        raise WriteError(f"cannot copy the previous {target} to build the new one ({first[2]}); free space or "
                         "make the folder writable, then run again") from None
    except OSError as exc:
        message = describe_os_error(exc, exc.filename or target)
        if message is None:
            raise
        raise WriteError(message) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
