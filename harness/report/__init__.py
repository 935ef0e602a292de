"""The browsable report: a static HTML site (jinja2 templates, matplotlib figures) from result files.

`write_report(results, out)` writes it; `harness report` is the command. See site.py for the pages.
"""
from __future__ import annotations

from harness.report.site import write_report

__all__ = ["write_report"]
