"""Evaluate a finished run's checkpoint under another test-time setting, without retraining.

`harness evaluate RUN_DIR --set KEY=VALUE` (KEY an option the method's config marks test-time
only, `test_time_options`, e.g. ASGIT's `test_placeholder`): the run's networks are rebuilt with
the run's config plus the setting, loaded from its checkpoint (weights_only; the weights must be
the ones the result records, `run.weights_sha256`), the test set is translated again into
`RUN_DIR/test_settings/<label>/translations/`, evaluated like the run's own translations, and
recorded in result.json under `test_settings[<label>]`. The run's own `metrics` (its default
setting) stay as they are and the run keeps its id: a test-time setting is not another experiment.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Optional

from harness.errors import HarnessError, UsageError
from harness.registry import METHODS
from harness.results import RESULT_NAME, load_result, now_iso, write_result

SETTINGS_DIR = "test_settings"


def test_time_options(method_name: str) -> tuple[str, ...]:
    """The config fields of a method that only change its test path (safe to vary after training)."""
    return tuple(getattr(METHODS.get(method_name).config_class, "test_time_options", ()))


def check_test_time(method_name: str, sets: dict[str, Any], config: dict[str, Any]) -> str:
    """Refuse training options and no-op settings; return the setting's label (`key=value,...`)."""
    allowed = test_time_options(method_name)
    for key, value in sets.items():
        if key not in allowed:
            what = "an option of" if key in config else "not an option of"
            raise UsageError(f"--set {key}: {what} {method_name} that training depends on; `harness evaluate --set` "
                             f"takes test-time options only ({', '.join(allowed) or 'this method has none'}); "
                             f"train a new run with `harness run ... --set {key}=...` instead")
    if all(config.get(k) == v for k, v in sets.items()):
        raise UsageError(f"--set {','.join(f'{k}={v}' for k, v in sets.items())} is the run's own setting; its "
                         f"metrics are the run's `metrics` already")
    return ",".join(f"{k}={sets[k]}" for k in sorted(sets))


def _folder_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=,-]", "_", label)


def load_finished_run(run_dir: Path, sets: dict[str, Any], data_root: Optional[str], device: str):
    """(result, prepared data, method with the run's checkpoint and `sets` applied, device setup, image spec, seed)."""
    from harness.evaluation.rerun import prepared_for_run
    from harness.pipeline import RUN_SPEC, RunSpec, build_method
    from harness.run_folder import register_saved_schedule
    from harness.training.checkpoint import read_checkpoint
    from harness.training.device import setup_device
    from harness.training.distributed import state_digest

    path = run_dir / RESULT_NAME
    if not path.is_file():
        raise HarnessError(f"{run_dir} has no {RESULT_NAME}; finish the run first (`harness resume {run_dir}`)")
    result = load_result(path)
    run = result.get("run", {})
    checkpoint = run_dir / run["checkpoint"] if run.get("checkpoint") else None
    if checkpoint is None or not checkpoint.is_file():
        where = f"its checkpoint {checkpoint} is not there" if checkpoint else "it kept no checkpoint"
        raise HarnessError(f"{run_dir}: {where}, so it cannot be translated again; point at the run folder that "
                           "holds the checkpoint (result folders copied without checkpoints cannot), or train it "
                           "again with `harness run ... --force`")
    saved = json.loads((run_dir / RUN_SPEC).read_text(encoding="utf-8"))
    register_saved_schedule(saved["spec"].get("schedule"), (saved.get("trained_on") or {}).get("schedule"),
                            run_dir / RUN_SPEC)
    spec = RunSpec(**{**saved["spec"], "overrides": {**saved["spec"].get("overrides", {}), **sets},
                      "device": device, "out": str(run_dir.parent.parent.parent)})
    prepared = prepared_for_run(run_dir, result, data_root)
    payload = read_checkpoint(checkpoint)
    if run.get("weights_sha256") and state_digest(payload["model"]) != run["weights_sha256"]:
        raise HarnessError(f"{checkpoint} holds other weights than the ones {path} was made with (run.weights_sha256); "
                           "it cannot stand for this run")
    setup = setup_device(device)
    method, _, image = build_method(spec, prepared.task, prepared)
    method.load_state_dict(payload["model"])
    method.load_extra_state(payload["method_extra"])
    method = setup.prepare_module(method)
    method.amp_dtype = setup.amp_dtype
    return result, prepared, method, setup, image, spec.seed


def evaluate_test_setting(run_dir: str | Path, sets: dict[str, Any], options: Any = None,
                          data_root: Optional[str] = None, device: str = "auto") -> tuple[Path, str, dict]:
    """Translate and evaluate `run_dir`'s checkpoint with the test-time `sets`; returns (result path,
    label, the recorded entry)."""
    from harness.evaluation import evaluate_run
    from harness.translate import translate_test_set

    run_dir = Path(run_dir)
    if (run_dir / RESULT_NAME).is_file():
        recorded = load_result(run_dir / RESULT_NAME)
        check_test_time(recorded["method"], sets, recorded["config"]["method"])  # before any heavy work
    result, prepared, method, setup, image, seed = load_finished_run(run_dir, sets, data_root, device)
    label = check_test_time(result["method"], sets, result["config"]["method"])
    target = run_dir / SETTINGS_DIR / _folder_name(label)
    translations = translate_test_set(method, prepared.split, image, setup, target / "translations", seed)
    metrics = evaluate_run(target, {**result, "translations": translations}, prepared, options)
    entry = {"label": label, "set": dict(sets), "created_at": now_iso(), "folder": str(target.relative_to(run_dir)),
             "translations": translations, "metrics": metrics}
    result.setdefault(SETTINGS_DIR, {})[label] = entry
    write_result(run_dir, result)
    return run_dir / RESULT_NAME, label, entry


def rediagnose(run_dir: str | Path, data_root: Optional[str] = None, device: str = "auto") -> Path:
    """Recompute a finished run's `diagnostics` block from its checkpoint (e.g. once a control run
    exists beside it); the rest of result.json is unchanged."""
    from harness.data.datasets import test_batches, to_uint8

    run_dir = Path(run_dir)
    result, prepared, method, _, image, _ = load_finished_run(run_dir, {}, data_root, device)
    diagnose = getattr(method, "diagnostics", None)
    if diagnose is None:
        raise UsageError(f"{result['method']} records no diagnostics; --diagnostics applies to methods that do (ASGIT)")
    result["diagnostics"] = diagnose({d: test_batches(prepared.split.test[d[0]], image) for d in method.directions},
                                     quantise=to_uint8, run_dir=run_dir)
    write_result(run_dir, result)
    return run_dir / RESULT_NAME
