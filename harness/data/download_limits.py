"""Limits on a download from a server we do not control: a size cap, an overall deadline, a sane
Content-Length, and redirects that stay on the host asked (unless the caller pins the result's digest).

Policy on digests: the CycleGAN/pix2pix archives are not pinned by sha256 (their servers republish
them); what is pinned is the extracted folder's manifest digest, in `harness/tasks/<task>.yaml`
(`source.manifest_digest`) for the data sets a task uses. A redirect to another host is therefore
followed only for those data sets, whose result is verified; for the others it is refused.
Defaults can be changed with $HARNESS_DOWNLOAD_MAX_BYTES and $HARNESS_DOWNLOAD_DEADLINE_S.
"""
from __future__ import annotations

import os
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from harness.errors import HarnessError

DEFAULT_MAX_BYTES = 16 << 30  # the largest official archive (edges2shoes/cityscapes) is well under this
DEFAULT_DEADLINE_S = 6 * 3600.0


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise HarnessError(f"${name}={raw!r} is not a number") from None
    if value <= 0:
        raise HarnessError(f"${name}={raw!r} must be positive")
    return value


@dataclass
class Limits:
    max_bytes: int
    deadline_s: float
    started: float

    def check_announced(self, url: str, expected: Optional[int]) -> None:
        if expected is not None and expected > self.max_bytes:
            raise HarnessError(f"{url} announces {expected:,} bytes, over the {self.max_bytes:,}-byte cap "
                               "($HARNESS_DOWNLOAD_MAX_BYTES); refused")

    def check_progress(self, url: str, done: int, part: Path) -> None:
        if done > self.max_bytes:
            part.unlink(missing_ok=True)
            raise HarnessError(f"{url} sent more than the {self.max_bytes:,}-byte cap ($HARNESS_DOWNLOAD_MAX_BYTES); "
                               "the download was stopped and its partial file removed")
        if time.monotonic() - self.started > self.deadline_s:
            raise HarnessError(f"{url} did not finish within {self.deadline_s:.0f} s ($HARNESS_DOWNLOAD_DEADLINE_S); "
                               f"{part} is kept, run again to resume")


def download_limits(max_bytes: Optional[int] = None, deadline_s: Optional[float] = None) -> Limits:
    return Limits(int(max_bytes or _env_number("HARNESS_DOWNLOAD_MAX_BYTES", DEFAULT_MAX_BYTES)),
                  float(deadline_s or _env_number("HARNESS_DOWNLOAD_DEADLINE_S", DEFAULT_DEADLINE_S)),
                  time.monotonic())


def content_length(response: Any, url: str) -> int:
    raw = response.headers.get("Content-Length")
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise HarnessError(f"{url}: the server sent an invalid Content-Length {raw!r}") from None
    if value < 0:
        raise HarnessError(f"{url}: the server sent an invalid Content-Length {raw!r}")
    return value


class _SameHostRedirects(urllib.request.HTTPRedirectHandler):
    def __init__(self, origin: str, allow_cross_host: bool):
        self.origin, self.allow = origin, allow_cross_host

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[override]
        new = urllib.parse.urlsplit(newurl)
        old = urllib.parse.urlsplit(req.full_url)
        if new.scheme not in ("http", "https") or (old.scheme == "https" and new.scheme != "https"):
            raise HarnessError(f"{self.origin} redirects to {newurl}: refused (not https/http, or a downgrade)")
        if (new.hostname or "").lower() != (urllib.parse.urlsplit(self.origin).hostname or "").lower() \
                and not self.allow:
            raise HarnessError(f"{self.origin} redirects to another host ({new.hostname}); refused, since this data "
                               "set has no pinned digest to verify what that host sends")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def open_url(request: urllib.request.Request, timeout: float, allow_cross_host: bool) -> Any:
    opener = urllib.request.build_opener(_SameHostRedirects(request.full_url, allow_cross_host))
    return opener.open(request, timeout=timeout)
