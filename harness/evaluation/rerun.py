"""Re-evaluate a finished run from its folder and rewrite its result.json atomically."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from harness.data.prepare import TEST_ONLY_RULE, prepare_data, test_lines_match
from harness.errors import HarnessError
from harness.evaluation.context import EvalOptions
from harness.registry import TASKS
from harness.results import RESULT_NAME, load_result, write_result


@dataclass(frozen=True)
class Reevaluation:
    path: Path
    status: str  # the merged metrics status written to result.json
    computed: int  # entries computed now
    asked: int  # entries asked for
    lines: list[str]  # what could not be computed (kept or unavailable), for the terminal


def reevaluate(run_dir: str | Path, options: EvalOptions, data_root: Optional[str] = None) -> Reevaluation:
    """Recompute the metrics of `run_dir` with `options` and rewrite its result.json, keeping any
    computed entry that could not be recomputed (`harness.evaluation.report.merge_metrics`)."""
    from harness.evaluation.report import count_ok, merge_metrics, unavailable_lines
    from harness.evaluation import evaluate_run
    run_dir = Path(run_dir)
    path = run_dir / RESULT_NAME
    if not path.is_file():
        raise HarnessError(f"{run_dir} has no {RESULT_NAME}; finish the run first (`harness resume {run_dir}`)")
    result = load_result(path)
    prepared = prepared_for_run(run_dir, result, data_root)
    new = evaluate_run(run_dir, result, prepared, options)
    old = result.get("metrics")
    computed = count_ok(new)
    lines = unavailable_lines(new, run_dir)
    kept_any = bool(old) and count_ok(old) > 0
    if computed or not kept_any:  # nothing new over computed entries: leave the file as it is
        result["metrics"] = merge_metrics(old, new)
        write_result(run_dir, result)
    kept = {(k["direction"], k["metric"]) for k in result["metrics"].get("kept_from_previous_evaluation", [])}
    if kept and computed:
        lines.append(f"{run_dir}: kept {len(kept)} earlier computed entr{'y' if len(kept) == 1 else 'ies'} "
                     "that could not be recomputed")
    elif kept_any and not computed:
        lines.append(f"{run_dir}: nothing recomputed; result.json keeps its earlier entries")
    asked = sum(len(d) for d in new["directions"].values())
    return Reevaluation(path, result["metrics"]["status"], computed, asked, lines)


def prepared_for_run(run_dir: Path, result: dict, data_root: Optional[str] = None):
    """The test data of a finished run, checked to be the data it was trained and translated on."""
    path = run_dir / RESULT_NAME
    task = TASKS.get(result["task"]["name"], where=str(path))
    if task.version != result["task"]["version"]:
        raise HarnessError(f"{path} was made with task {task.name!r} version {result['task']['version']}, "
                           f"the harness has version {task.version}; re-run it")
    # The data must be the data the run was trained and translated on.
    root = data_root
    recorded_root = result.get("data", {}).get("root")
    if root is None and task.layout != "demo" and recorded_root and Path(recorded_root).is_dir():
        root = recorded_root  # the folder the run read, if it is still there
    prepared = prepare_data(task, root, for_evaluation=True)
    recorded = result.get("data", {})
    checks = [("manifest_digest", prepared.manifest.digest), ("split_digest", prepared.split.digest)]
    if prepared.split.rule.startswith(TEST_ONLY_RULE):  # a copy of the test images only: compare those
        split_file = run_dir / "split.json"
        lines = json.loads(split_file.read_text()).get("lines", []) if split_file.is_file() else []
        if not test_lines_match(prepared.split, lines):
            raise HarnessError(f"the test images at {prepared.root} are not the ones {split_file} lists; pass "
                               f"--data-root to the data the run used")
        checks = []
    for key, now in checks:
        if recorded.get(key) and recorded[key] != now:
            raise HarnessError(f"the data found at {prepared.root} has {key} {now[:12]}…, the run used "
                               f"{recorded[key][:12]}…; pass --data-root to the data the run used")
    return prepared
