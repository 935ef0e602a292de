"""Full-state checkpoints: networks, optimizers, method extras, RNG states and position.

Safe to load: everything is stored as tensors and plain data (the Python and NumPy RNG states
are converted), and loading uses `torch.load(weights_only=True)`, which refuses any pickled
object that would run code. A checkpoint from elsewhere is therefore data, never a program.

Written atomically (temporary file, fsync, rename), so an interrupted write leaves the last good
checkpoint in place. Before `latest.pt` is replaced, the checkpoint it held becomes
`previous.pt` (a hard link, so at every instant `latest.pt` is a complete file); a damaged
latest is reported by name and `harness resume --from-previous` continues from the one before.
"""
from __future__ import annotations

import os
import pickle
import random
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from harness.io import atomic_path, sha256_file
from harness.training.checkpoint_guard import (CheckpointError, check_file, check_fits, check_integrity,
                                               check_payload, first_non_finite, recorded_digests,
                                               write_digests)
from harness.training.method import Method

CHECKPOINT_NAME = "latest.pt"
PREVIOUS_NAME = "previous.pt"
FORMAT = 2


def rng_state() -> dict[str, Any]:
    """Every global random stream as tensors and plain data (loadable with weights_only=True)."""
    version, internal, gauss_next = random.getstate()
    numpy_state = np.random.get_state(legacy=False)
    state = {
        "python": {"version": version, "state": list(internal), "gauss_next": gauss_next},
        "numpy": {"bit_generator": numpy_state["bit_generator"],
                  "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
                  "pos": int(numpy_state["state"]["pos"]), "has_gauss": int(numpy_state["has_gauss"]),
                  "gauss": float(numpy_state["gauss"])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss_next"]))
    npy = state["numpy"]
    np.random.set_state({"bit_generator": npy["bit_generator"],
                         "state": {"key": npy["key"].numpy().astype(np.uint32), "pos": npy["pos"]},
                         "has_gauss": npy["has_gauss"], "gauss": npy["gauss"]})
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def non_finite_weights(method: Method) -> list[str]:
    """Names of parameters, buffers and optimizer states holding NaN or inf (one host sync)."""
    named = [(f"model.{k}", v) for k, v in method.state_dict().items()]
    for opt_name, opt in method.optimizers.items():
        for i, state in enumerate(opt.state.values()):
            named += [(f"optimizer.{opt_name}.{i}.{k}", v) for k, v in state.items() if torch.is_tensor(v)]
    named = [(k, v) for k, v in named if torch.is_tensor(v) and v.is_floating_point() and v.numel()]
    if not named:
        return []
    # Flags gathered on the weights' device and read back once (a per-tensor .cpu() would sync per tensor).
    device = named[0][1].device
    flags = torch.stack([torch.isfinite(v).all().to(device) for _, v in named]).tolist()
    return [k for (k, _), ok in zip(named, flags) if not ok]


def save_checkpoint(path: Path, method: Method, position: dict[str, int], extra: Optional[dict] = None) -> None:
    """Save the whole training state; `position` holds step, epoch and iteration within the epoch.

    The checkpoint `path` held so far is kept as `previous.pt` beside it."""
    payload = {
        "format": FORMAT,
        "position": dict(position),
        "model": method.state_dict(),
        "optimizers": {name: opt.state_dict() for name, opt in method.optimizers.items()},
        "method_extra": method.extra_state(),
        "rng": rng_state(),
        "trainer": extra or {},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
        _keep_as_previous(path)
        # the digest file lists the new digest and the one it replaces: true before and after the rename
        new = sha256_file(tmp)
        write_digests(path, [new] + _current_digests(path))
    write_digests(path, [new])


def _current_digests(path: Path) -> list[str]:
    """The digests recorded for the checkpoint at `path`; hashed now only for one written before digest files."""
    if not path.exists():
        return []
    return recorded_digests(path) or [sha256_file(path)]


def _keep_as_previous(path: Path) -> None:
    """Make the checkpoint at `path` (about to be replaced) also `previous.pt`, atomically."""
    if not path.exists():
        return
    previous = path.with_name(PREVIOUS_NAME)
    # previous.pt's digest file: what latest.pt's says (a damaged latest stays detectably damaged as previous),
    # listing the old previous's too until the link is in place (a kill in between leaves both valid)
    digests = _current_digests(path)
    write_digests(previous, digests + (recorded_digests(previous) or []))
    with atomic_path(previous) as tmp:
        tmp.unlink()
        try:
            os.link(path, tmp)  # no copy: the same file under a second name
        except OSError:  # file systems without hard links
            shutil.copyfile(path, tmp)
    write_digests(previous, digests)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint's payload safely, or raise a one-line CheckpointError naming the file."""
    check_file(path)  # a plain file whose records would not inflate: before anything is materialised
    try:
        # mmap: tensors are mapped from the file, not copied into memory, until the method takes them
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as exc:
        # weights_only refuses any global it does not know before creating it: nothing has run.
        found = re.search(r"GLOBAL\s+([\w.]+)", str(exc))
        what = f"it names {found.group(1).rstrip('.')}" if found else "it names objects"
        raise CheckpointError(f"checkpoint {path} holds more than tensors and plain data ({what}, which loading "
                              "would create, possibly running code); it was not loaded: delete it unless you trust "
                              "its source, then resume with --from-previous or start over with --force") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"checkpoint {path} is damaged ({detail.split('. ')[0][:120]}); `harness resume RUN_DIR "
                              "--from-previous` continues from the checkpoint before it") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"checkpoint {path} has format {found!r}, not {FORMAT}; it was written by another "
                              "harness version: resume it with that version or start over with --force")
    check_integrity(path)  # a flipped byte is caught here, not trained on (loading alone ran no code)
    check_payload(path, payload)
    return payload


def load_checkpoint(path: Path, method: Method) -> dict[str, Any]:
    """Restore `method` (networks, optimizers, extras) and the RNG states; return the payload."""
    # Loaded on the CPU: RNG states must stay CPU tensors; parameters and optimizer states are
    # copied onto the method's device by load_state_dict.
    payload = read_checkpoint(path)
    check_fits(path, payload["model"], method.state_dict())
    method.load_state_dict(payload["model"])
    missing = set(method.optimizers) ^ set(payload["optimizers"])
    if missing:
        raise CheckpointError(f"checkpoint {path} optimizers do not match the method's: {sorted(missing)}; "
                              "the method changed since it was written: start over with --force")
    try:
        for name, opt in method.optimizers.items():
            state = payload["optimizers"][name]
            for i, values in enumerate((state.get("state") or {}).values() if isinstance(state, dict) else ()):
                bad = first_non_finite(values) if isinstance(values, dict) else None
                if bad is not None:
                    raise CheckpointError(f"checkpoint {path}: optimizer {name} state {i} {bad!r} holds NaN or inf; "
                                          "resume with --from-previous or start over with --force")
            opt.load_state_dict(state)
        method.load_extra_state(payload["method_extra"])
        set_rng_state(payload["rng"])
    except (KeyError, ValueError, TypeError, RuntimeError, IndexError, AttributeError) as exc:
        detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"checkpoint {path} does not fit the method ({type(exc).__name__}: {detail}); resume "
                              "with --from-previous or start over with `harness run ... --force`") from None
    return payload
