"""The evaluation stage: target-KID, fused-KID, FID (torch-fidelity) and the FCN score, cached and honest.

`evaluate_run(run_dir, result, prepared)` returns the `metrics` section of a result file:
per direction, every metric of the task with its value, spread, set sizes, subset settings,
extractor/segmenter name and weights hash, or `{"status": "unavailable", "reason": ...}` with
the fix. `evaluate_folders(generated, reference)` scores plain folders (any codebase; see
`harness.evaluation.folders`).
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Optional

from harness.data.prepare import PreparedData
from harness.evaluation.context import PROTOCOL, EvalContext, EvalOptions
from harness.evaluation.espnet import ESPNet, build_espnet_segmenter  # noqa: F401  (registers the segmenter)
from harness.evaluation.features import ExtractorSpec, FeatureCache  # noqa: F401  (registers Inception)
from harness.evaluation.kid import KidOptions
from harness.evaluation.metrics import unavailable  # also registers the metric families
from harness.evaluation.demo_oracle import demo_oracle_score  # noqa: F401  (registers demo_oracle)
from harness.evaluation.paired import paired_fidelity  # noqa: F401  (registers paired_fidelity)
from harness.registry import METRICS
from harness.results import now_iso
from harness.tasks import ImageSpec

log = logging.getLogger("harness.evaluation")
__all__ = ["evaluate_run", "evaluate_folders", "EvalOptions", "KidOptions", "PROTOCOL"]


def evaluate_folders(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """See `harness.evaluation.folders.evaluate_folders`."""
    from harness.evaluation.folders import evaluate_folders as run
    return run(*args, **kwargs)


def _status(directions: dict[str, dict[str, Any]]) -> str:
    entries = [e for d in directions.values() for e in d.values()]
    ok = sum(e.get("status") == "ok" for e in entries)
    if entries and ok == len(entries):
        return "evaluated"
    return "partial" if ok else "not_evaluated"


def evaluate_run(run_dir: Path, result: dict[str, Any], prepared: PreparedData,
                 options: Optional[EvalOptions] = None) -> dict[str, Any]:
    """Evaluate a run's translations; return the metrics section for its result.json."""
    options = options or EvalOptions()
    task = prepared.task
    image = ImageSpec(**result["config"]["image"])
    ctx = EvalContext(options, task, prepared, image, Path(run_dir))
    families = options.metrics if options.metrics is not None else tuple(task.metrics)
    directions: dict[str, dict[str, Any]] = {}
    for direction in result["directions"]:
        entries: dict[str, Any] = {}
        for family in families:
            metric = METRICS.get(family, where=f"metrics of task {task.name!r}")
            entries.update(metric(ctx, direction))
        directions[direction] = entries
    status = _status(directions)
    out: dict[str, Any] = {"status": status, "protocol": PROTOCOL, "evaluated_at": now_iso(),
                           "options": options.record(), "directions": directions}
    if ctx.ceilings:
        out["ceilings"] = ctx.ceilings
    if status != "evaluated":
        reasons = sorted({e["reason"] for d in directions.values() for e in d.values() if e.get("status") != "ok"})
        out["reason"] = "; ".join(reasons) if reasons else "the task names no metrics"
    log.debug("evaluation of %s: %s (feature cache: %d hits, %d misses)", run_dir, status,
             ctx.real_cache.hits + ctx.generated_cache.hits, ctx.real_cache.misses + ctx.generated_cache.misses)
    return out


def replace_options(options: EvalOptions, **changes: Any) -> EvalOptions:
    """`dataclasses.replace` that also accepts KID fields (`kid_subsets=...`)."""
    kid_changes = {k[4:]: v for k, v in changes.items() if k.startswith("kid_")}
    rest = {k: v for k, v in changes.items() if not k.startswith("kid_")}
    if kid_changes:
        rest["kid"] = dataclasses.replace(options.kid, **kid_changes)
    return dataclasses.replace(options, **rest)


# unavailable() is part of the package's surface for other stages (reference rows).
_ = unavailable
