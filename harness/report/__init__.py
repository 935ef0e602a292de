"""The browsable report: a static HTML site (jinja2 templates, matplotlib figures) from result files.

`write_report(results, out)` writes it; `harness report` is the command. See site.py for the pages.
Importing this package stays light (training draws its loss figure with `harness.report.figures`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any


def write_report(*args: Any, **kwargs: Any) -> Path:
    from harness.report.site import write_report as write

    return write(*args, **kwargs)


__all__ = ["write_report"]
