"""Re-evaluate a finished run from its folder and rewrite its result.json atomically."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from harness.data.prepare import prepare_data
from harness.errors import HarnessError
from harness.evaluation.context import EvalOptions
from harness.registry import TASKS
from harness.results import RESULT_NAME, load_result, write_result


def reevaluate(run_dir: str | Path, options: EvalOptions, data_root: Optional[str] = None) -> tuple[Path, str]:
    """Recompute the metrics of `run_dir` with `options`; returns (result path, metrics status)."""
    from harness.evaluation import evaluate_run
    run_dir = Path(run_dir)
    path = run_dir / RESULT_NAME
    if not path.is_file():
        raise HarnessError(f"{run_dir} has no {RESULT_NAME}; finish the run first (`harness resume {run_dir}`)")
    result = load_result(path)
    task = TASKS.get(result["task"]["name"], where=str(path))
    if task.version != result["task"]["version"]:
        raise HarnessError(f"{path} was made with task {task.name!r} version {result['task']['version']}, "
                           f"the harness has version {task.version}; re-run it")
    # The data must be the data the run was trained and translated on.
    root = data_root
    recorded_root = result.get("data", {}).get("root")
    if root is None and task.layout != "demo" and recorded_root and Path(recorded_root).is_dir():
        root = recorded_root  # the folder the run read, if it is still there
    prepared = prepare_data(task, root)
    recorded = result.get("data", {})
    for key, now in (("manifest_digest", prepared.manifest.digest), ("split_digest", prepared.split.digest)):
        if recorded.get(key) and recorded[key] != now:
            raise HarnessError(f"the data found at {prepared.root} has {key} {now[:12]}…, the run used "
                               f"{recorded[key][:12]}…; pass --data-root to the data the run used")
    result["metrics"] = evaluate_run(run_dir, result, prepared, options)
    write_result(run_dir, result)
    return path, result["metrics"]["status"]
