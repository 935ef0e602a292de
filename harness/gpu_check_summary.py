"""The GPU check's one-screen summary: pass/fail per test, speedups, memory format per network
family, the best K (with or without MPS), and which combination of options to make default."""
from __future__ import annotations

from typing import Any, Optional


def print_summary(report: dict[str, Any]) -> None:
    for line in summary_lines(report):
        print(line)


def summary_lines(report: dict[str, Any]) -> list[str]:
    env = report["environment"]
    out = [f"GPU check ({report['form']}), {env['date_utc']} UTC, {env.get('gpu', env['device'])}, "
           f"torch {env['torch']} (CUDA {env['cuda']})",
           "optional packages: " + ", ".join(f"{k}={'yes' if v else 'no'}" for k, v in env["optional_packages"].items())]
    unfinished = [f"{name} ({rec['status']})" for name, rec in report.get("sections", {}).items()
                  if rec["status"] not in ("done",)]
    if unfinished:
        out.append("sections not finished: " + "; ".join(unfinished))
    out.append("tests:")
    for name, rec in report["tests"].items():
        detail = rec.get("error") or ", ".join(f"{k}={_fmt(v)}" for k, v in rec.items()
                                               if k in ("max_weight_difference", "relative_difference"))
        out.append(f"  {rec['status'].upper():<5} {name}  {detail}")
    cfg = report["config"]
    if report["step_speed"]:
        out.append(f"training step at {cfg['image_size']} px, batch {cfg['batch_size']} (reference / harness):")
    for name, rec in report["step_speed"].items():
        if "error" in rec or "reason" in rec:
            out.append(f"  {name:<24} not measured: {rec.get('error') or rec.get('reason')}"[:160])
        else:
            out.append(f"  {name:<24} {rec['reference_step_s'] * 1e3:8.2f} ms / {rec['harness_step_s'] * 1e3:8.2f} ms"
                       f"   speedup {rec['speedup']:.3f}")
    if report["memory_format"]:
        out.append("memory format per network family (forward + backward):")
    for family, rec in report["memory_format"].items():
        if "faster" in rec:
            out.append(f"  {family:<24} channels_last {rec['channels_last_s'] * 1e3:7.2f} ms, contiguous "
                       f"{rec['contiguous_s'] * 1e3:7.2f} ms: {rec['faster']} ({rec['channels_last_speedup']:.2f}x)")
        else:
            out.append(f"  {family:<24} not measured: {rec.get('error') or rec.get('reason')}"[:160])
    if report["concurrent_runs"]:
        out.append("concurrent runs on one device:")
    for row in report["concurrent_runs"]:
        tag = f"{row['runs']} run(s){' + MPS' if row.get('mps') else ''}"
        if "aggregate_images_per_s" in row:
            vs = row.get("vs_single_run")
            out.append(f"  {tag:<16} {row['aggregate_images_per_s']:8.2f} images/s in all"
                       + (f" ({vs:.2f}x one run)" if vs else "")
                       + f", peak memory per run {row['peak_memory_per_run_gb']:.2f} GiB")
        else:
            out.append(f"  {tag:<16} {row.get('status', 'failed')}: {row.get('error', '')}"[:160])
    if "concurrent_runs_mps" in report:
        out.append(f"  MPS: skipped ({report['concurrent_runs_mps']['reason']})")
    fx = report.get("feature_extraction")
    if fx is not None:
        out.append(("feature extraction: " + (f"{fx['features_per_s']:.1f} images/s ({fx['extractor']}, "
                                              f"{fx['n_images']} images)" if fx.get("status") == "ok"
                                              else f"skipped ({fx.get('reason')})"))[:200])
    out += recommendation(report)
    return out


def recommendation(report: dict[str, Any]) -> list[str]:
    """Which options to make default, from what was measured (nothing is changed automatically)."""
    lines = ["suggested defaults (from this check; the harness's defaults change only by a commit):"]
    speed = {k: v for k, v in report["step_speed"].items() if "harness_step_s" in v}
    option_ok = {k[len("option_"):-len("_trains")] for k, v in report["tests"].items()
                 if k.startswith("option_") and v.get("status") == "pass"}
    base = speed.get("default")
    if base:
        better = sorted((v["harness_step_s"], k) for k, v in speed.items()
                        if k != "default" and k in option_ok and v["harness_step_s"] < 0.97 * base["harness_step_s"])
        picks = [f"{k} ({base['harness_step_s'] / s:.2f}x)" for s, k in better]
        lines.append("  step options faster than the default by > 3 %: " + (", ".join(picks) or "none"))
    fmt = {f: r["faster"] for f, r in report["memory_format"].items() if "faster" in r}
    if fmt:
        lines.append("  memory format: " + ", ".join(f"{f} -> {v}" for f, v in fmt.items()))
    best = best_k(report["concurrent_runs"])
    if best:
        lines.append(f"  runs per GPU: K={best['runs']}{' with --mps' if best.get('mps') else ''} "
                     f"({best['aggregate_images_per_s']:.1f} images/s in all"
                     + (f", {best['vs_single_run']:.2f}x one run)" if best.get("vs_single_run") else ")"))
    return lines


def best_k(rows: list[dict[str, Any]]) -> Optional[dict[str, Any]]:
    measured = [r for r in rows if "aggregate_images_per_s" in r]
    return max(measured, key=lambda r: r["aggregate_images_per_s"]) if measured else None


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {v:.3g}" for k, v in value.items()) + "}"
    return f"{value:.3g}" if isinstance(value, float) else str(value)
