"""The one score a task is ranked by in summaries (the report's figures and run lists, the demo's closing
table and line): read from the task definition where it names one (`headline: METRIC`), otherwise the
first of its metric keys in `PREFERRED` that its results carry. Every ranking reads it from here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional

# Fallback order when a task names no headline: segmentation-based scores (exact on the demo, the
# paper's FCN score on Cityscapes) before distribution distances.
PREFERRED = ("fcn_mean_iou", "fcn_per_pixel_acc", "target_kid_x100", "fused_kid_x100", "target_fid")
SHORT_NAMES = {"target_kid_x100": "target-KID×100", "fused_kid_x100": "fused-KID×100", "target_fid": "target-FID",
               "fused_fid": "fused-FID", "fcn_per_pixel_acc": "pixel acc.", "fcn_per_class_acc": "class acc.",
               "fcn_mean_iou": "mIoU"}


@dataclass(frozen=True)
class Headline:
    metric: str
    lower_is_better: bool

    @property
    def label(self) -> str:
        return SHORT_NAMES.get(self.metric, self.metric)

    @property
    def arrow(self) -> str:
        return "↓" if self.lower_is_better else "↑"

    def better(self, a: float, b: float) -> bool:
        return a < b if self.lower_is_better else a > b

    def sort_key(self, value: Optional[float]) -> tuple[int, float]:
        """Best first; a missing score last."""
        if value is None:
            return (1, 0.0)
        return (0, value if self.lower_is_better else -value)


def _lower_is_better(metric: str) -> bool:
    from harness.leaderboard.specs import METRIC_BETTER
    return METRIC_BETTER.get(metric, "lower") == "lower"


def headline_for(task_name: str, available: Iterable[str] = ()) -> Optional[Headline]:
    """The task's headline metric; `available` (metric keys its results carry) picks the fallback."""
    from harness.registry import TASKS
    named = None
    if task_name in TASKS:
        named = getattr(TASKS.get(task_name), "headline", None)
    if isinstance(named, dict):
        named = named.get("metric")
    if named:
        return Headline(str(named), _lower_is_better(str(named)))
    have = set(available)
    for metric in PREFERRED:
        if metric in have:
            return Headline(metric, _lower_is_better(metric))
    return None


def ok_value(result: dict[str, Any], direction: str, metric: str) -> Optional[float]:
    """A computed metric value from a result's metrics section; None when absent or unavailable."""
    entry = (((result.get("metrics") or {}).get("directions") or {}).get(direction) or {}).get(metric) or {}
    value = entry.get("value")
    return float(value) if entry.get("status") == "ok" and value is not None else None


def result_metrics(result: dict[str, Any]) -> set[str]:
    return {m for entries in ((result.get("metrics") or {}).get("directions") or {}).values() for m in entries or {}}


def mean_score(result: dict[str, Any], metric: str) -> Optional[float]:
    """The headline averaged over the directions that computed it (a run's one number)."""
    values = [v for d in ((result.get("metrics") or {}).get("directions") or {})
              if (v := ok_value(result, d, metric)) is not None]
    return sum(values) / len(values) if values else None
