"""Official downloads of the CycleGAN and pix2pix data sets: resumable, extracted, verified.

Usage:
    harness data download horse2zebra              # CycleGAN release into the data root
    harness data download pix2pix/facades --data-root /data
    harness data download --task apple2orange      # the data set a task names

Where the files come from is data (`harness/data/sources.yaml`: families, mirrors in the order
they are tried, archive type, which task verifies a data set). A download goes to
`<data root>/.downloads/<name>.<ext>.part`; an interrupted download keeps the `.part` file and
the next call resumes it with an HTTP Range request (a server that ignores Range restarts it).
The finished archive is extracted beside the other data sets (`<data root>/<name>/`) through a
temporary folder, so a failed extraction never leaves a half data set. A corrupt archive is
deleted with an error that says so. The extracted folder is then hashed with the manifest recipe
and compared with the task's `source.manifest_digest`; tasks without one print the digest to
record in `harness/tasks/<task>.yaml`.
"""
from __future__ import annotations

import logging
import os
import shutil
import tarfile
import urllib.error
import urllib.request

from harness.data.download_limits import content_length, download_limits, open_url
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from harness.config import load_yaml
from harness.data.manifest import build_manifest
from harness.errors import HarnessError, UsageError, did_you_mean
from harness.io import WriteError, describe_os_error

log = logging.getLogger(__name__)
SOURCES_FILE = Path(__file__).with_name("sources.yaml")
DOWNLOAD_DIR = ".downloads"
CHUNK = 1 << 16


@dataclass(frozen=True)
class DataSource:
    """One downloadable data set: its family, name, mirror URLs, archive type and verifying task."""

    family: str
    name: str
    urls: tuple[str, ...]
    archive: str
    task: Optional[str] = None

    @property
    def archive_name(self) -> str:
        return f"{self.name}.{self.archive}"


class DownloadInterrupted(HarnessError):
    """The connection ended early; the `.part` file is kept so the next call resumes."""


def load_sources(path: Path = SOURCES_FILE) -> dict[str, DataSource]:
    """All data sets of `sources.yaml`, keyed `family/name`."""
    data = load_yaml(path)
    out = {}
    for family, spec in data.items():
        for name, extra in (spec.get("datasets") or {}).items():
            extra = extra or {}
            urls = tuple(u.format(name=name) for u in extra.get("mirrors", spec["mirrors"]))
            out[f"{family}/{name}"] = DataSource(family, name, urls, spec["archive"], extra.get("task"))
    return out


def find_source(name: str, sources: Optional[dict[str, DataSource]] = None) -> DataSource:
    """Resolve `family/name`, a bare data set name (if one family has it) or a task name."""
    sources = sources if sources is not None else load_sources()
    if name in sources:
        return sources[name]
    by_task = [s for s in sources.values() if s.task == name]
    bare = [s for s in sources.values() if s.name == name]
    hits = bare or by_task
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise UsageError(f"data set {name!r} exists in several families; say which: "
                         + ", ".join(f"{s.family}/{s.name}" for s in hits))
    valid = sorted(sources) + sorted({s.task for s in sources.values() if s.task})
    sugg = did_you_mean(name, valid)
    hint = f"; did you mean {sugg[0]!r}?" if sugg else ""
    raise UsageError(f"unknown data set {name!r}{hint}\nknown: {', '.join(sorted(sources))}")


def fetch(url: str, dest: Path, timeout: float = 60.0,
          progress: Optional[Callable[[int, Optional[int]], None]] = None, allow_cross_host: bool = False,
          max_bytes: Optional[int] = None, deadline_s: Optional[float] = None) -> Path:
    """Download `url` to `dest`, resuming `dest.part` if present. Returns `dest`.

    Raises `DownloadInterrupted` (partial file kept) when the body ends before its announced
    length, and `HarnessError` for HTTP errors, a body over `max_bytes`, a download past `deadline_s`
    and a redirect to another host (unless `allow_cross_host`: the caller verifies a pinned digest).
    """
    limits = download_limits(max_bytes, deadline_s)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "harness-data-download"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = open_url(request, timeout, allow_cross_host)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            # Nothing left to send: the part file already holds the whole body.
            total = _content_range_total(exc.headers.get("Content-Range"))
            if total is None or total == have:
                os.replace(part, dest)
                return dest
            part.unlink()
            raise DownloadInterrupted(f"{url}: the server rejected resuming at byte {have} of {total}; "
                                      f"the partial file was removed, run again to restart") from exc
        raise HarnessError(f"downloading {url} failed: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        # Nothing received: not resumable progress, so the next mirror may be tried.
        raise HarnessError(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from exc
    with response:
        if have and response.status == 206:
            start = _content_range_start(response.headers.get("Content-Range"))
            if start != have:
                raise HarnessError(f"{url}: asked to resume at byte {have}, server answered "
                                   f"{response.headers.get('Content-Range')!r}")
            mode, done = "ab", have
        else:
            if have:
                log.info("%s ignores Range requests; restarting the download", url)
            mode, done = "wb", 0
        expected = done + content_length(response, url) if response.headers.get("Content-Length") else None
        limits.check_announced(url, expected)
        try:
            with open(part, mode) as fh:
                while True:
                    # read1: whatever has arrived (at most CHUNK), so a trickling server meets the deadline
                    block = response.read1(CHUNK) if hasattr(response, "read1") else response.read(CHUNK)
                    if not block:
                        break
                    fh.write(block)
                    done += len(block)
                    limits.check_progress(url, done, part)
                    if progress:
                        progress(done, expected)
        except OSError as exc:
            message = describe_os_error(exc, part)
            if message is not None:  # disk full: not an interrupted download
                raise WriteError(message) from exc
            raise DownloadInterrupted(f"download of {url} interrupted at {done:,} bytes ({exc}); "
                                      f"{part} is kept, run again to resume") from exc
        except ValueError as exc:  # http.client.IncompleteRead
            raise DownloadInterrupted(f"download of {url} interrupted at {done:,} bytes ({exc}); "
                                      f"{part} is kept, run again to resume") from exc
    if expected is not None and done < expected:
        raise DownloadInterrupted(f"download of {url} interrupted at {done:,} of {expected:,} bytes; "
                                  f"{part} is kept, run again to resume")
    os.replace(part, dest)
    return dest


def _content_range_start(value: Optional[str]) -> Optional[int]:
    # "bytes 100-199/200"
    try:
        return int(value.split()[1].split("-")[0]) if value else None
    except (IndexError, ValueError):
        return None


def _content_range_total(value: Optional[str]) -> Optional[int]:
    try:
        total = value.rsplit("/", 1)[1] if value else "*"
        return None if total == "*" else int(total)
    except (IndexError, ValueError):
        return None


def extract(archive: Path, data_root: Path, folder: str) -> Path:
    """Unpack `archive` so that `data_root/folder` holds the data set; delete a corrupt archive."""
    target = data_root / folder
    staging = data_root / DOWNLOAD_DIR / f".extract-{folder}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        try:
            if zipfile.is_zipfile(archive):
                with zipfile.ZipFile(archive) as zf:
                    bad = zf.testzip()
                    if bad is not None:
                        raise zipfile.BadZipFile(f"CRC error in member {bad}")
                    zf.extractall(staging)  # ZipFile sanitises absolute and '..' member paths
            else:
                with tarfile.open(archive) as tf:
                    if hasattr(tarfile, "data_filter"):  # 3.12, 3.11.4+, 3.10.12+, 3.9.17+, 3.8.17+
                        tf.extractall(staging, filter="data")
                    else:
                        _check_tar_members(tf, staging)
                        tf.extractall(staging)
        except OSError as exc:
            message = describe_os_error(exc, staging)
            if message is not None:  # disk full, read-only: the archive is fine, keep it for the next try
                raise WriteError(f"extracting {archive.name}: {message}") from exc
            archive.unlink(missing_ok=True)
            raise HarnessError(f"the downloaded archive {archive.name} is corrupt ({_first_line(exc)}); it was deleted, "
                               f"run the download again") from exc
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, ValueError) as exc:
            archive.unlink(missing_ok=True)
            raise HarnessError(f"the downloaded archive {archive.name} is corrupt ({_first_line(exc)}); it was deleted, "
                               f"run the download again") from exc
        entries = [p for p in staging.iterdir() if not p.name.startswith((".", "__MACOSX"))]
        # Archives hold either one top folder named after the data set, or the data set's content.
        source = entries[0] if len(entries) == 1 and entries[0].is_dir() else staging
        if target.exists():
            raise HarnessError(f"{target} already exists; remove it first or verify it with "
                               f"`harness data verify`")
        shutil.move(str(source), str(target))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split("\n")[:1]).rstrip(":")
    return text[:200] or type(exc).__name__


def _check_tar_members(tf: tarfile.TarFile, dest: Path) -> None:
    """Without tarfile's data filter: only regular files and folders inside `dest`, no links or devices."""
    root = dest.resolve()
    for member in tf.getmembers():
        path = (dest / member.name).resolve()
        if root not in path.parents and path != root or member.issym() or member.islnk():
            raise HarnessError(f"archive member {member.name!r} points outside the extraction folder")
        if not (member.isfile() or member.isdir()):
            raise HarnessError(f"archive member {member.name!r} is a device, FIFO or other special file; refused")
        member.mode = (member.mode or 0o644) & 0o755  # no setuid/setgid/world-writable bits


@dataclass(frozen=True)
class DownloadResult:
    folder: Path
    digest: str
    n_files: int
    expected_digest: Optional[str]

    @property
    def verified(self) -> bool:
        return self.expected_digest is not None and self.expected_digest == self.digest


def download(source: DataSource, data_root: Path, expected_digest: Optional[str] = None,
             keep_archive: bool = False, timeout: float = 60.0, progress: bool = False) -> DownloadResult:
    """Fetch (trying each mirror), extract and hash one data set; raise on a digest mismatch."""
    data_root = Path(data_root)
    target = data_root / source.name
    if target.exists():
        raise HarnessError(f"{target} already exists; `harness data verify` checks it, or remove it to download again")
    archive = data_root / DOWNLOAD_DIR / source.archive_name
    if not archive.exists():
        errors = []
        for url in source.urls:
            try:
                with _progress_bar(progress, source.archive_name) as bar:
                    fetch(url, archive, timeout=timeout, progress=bar,
                          allow_cross_host=expected_digest is not None)
                break
            except DownloadInterrupted:
                raise  # resumable: keep the part file and let the user run again
            except HarnessError as exc:
                errors.append(str(exc))
        else:
            joined = errors[0] if len(errors) == 1 else "\n  " + "\n  ".join(errors)
            raise HarnessError(f"no mirror of {source.family}/{source.name} answered: {joined}")
    folder = extract(archive, data_root, source.name)
    if not keep_archive:
        archive.unlink(missing_ok=True)
    manifest = build_manifest(folder, progress=progress)
    result = DownloadResult(folder, manifest.digest, manifest.n_files, expected_digest)
    if expected_digest is not None and not result.verified:
        aside = folder.with_name(folder.name + ".unverified")  # never picked up later as the data set
        shutil.rmtree(aside, ignore_errors=True)
        os.rename(folder, aside)
        raise HarnessError(f"{folder}: manifest digest {manifest.digest} does not match the expected "
                           f"{expected_digest}; the download differs from the release the task expects. It was "
                           f"moved aside to {aside.name} (not used by any run): inspect or delete it")
    return result


class _progress_bar:
    """tqdm over bytes when asked for, else a no-op callback."""

    def __init__(self, enabled: bool, name: str):
        self.enabled, self.name, self.bar = enabled, name, None

    def __enter__(self) -> Callable[[int, Optional[int]], None]:
        def update(done: int, total: Optional[int]) -> None:
            if not self.enabled:
                return
            if self.bar is None:
                from tqdm import tqdm
                self.bar = tqdm(total=total, initial=0, unit="B", unit_scale=True, desc=self.name, leave=False)
            self.bar.update(done - self.bar.n)
        return update

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()
