"""Hostile download servers and archives under `harness data download` (a loopback HTTP server): a size cap
and a deadline, a sane Content-Length, redirects that stay on the host, archives that cannot plant devices,
links or setuid files, and a full disk reported as such with the archive kept.
"""
from __future__ import annotations

import errno
import io
import stat
import tarfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock

import pytest

from hostile_kit import Case, Ctx, assert_clean, ctx, demo_template  # noqa: F401
from test_hostile_inputs import FAIL, _png_bytes


# ------------------------------------------------------------------------------------------------- downloads
def _zip_bytes(name: str = "tiny") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for folder in ("trainA", "trainB", "testA", "testB"):
            zf.writestr(f"{name}/{folder}/0.png", _png_bytes(8, 8))
    return buf.getvalue()


def _tar_bytes(add) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        data = _png_bytes(8, 8)
        info = tarfile.TarInfo("tiny/trainA/0.png")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
        add(tf)
    return buf.getvalue()


def _member(name: str, kind: bytes, **attrs):
    def add(tf: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type = kind
        for k, v in attrs.items():
            setattr(info, k, v)
        payload = b"x" * info.size if kind == tarfile.REGTYPE else None
        tf.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return add


class Server:
    """Loopback HTTP server; each path is a behaviour (see `_handle`)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                try:
                    server.handle(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        kind, _, name = h.path.strip("/").partition("/")
        body = self.files.get(name, _zip_bytes())
        if kind == "ok":
            h.send_response(200)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        elif kind == "missing":
            h.send_error(404)
        elif kind in ("bad-length", "negative-length", "huge-length"):
            value = {"bad-length": "abc", "negative-length": "-5", "huge-length": str(1 << 50)}[kind]
            h.send_response(200)
            h.send_header("Content-Length", value)
            h.end_headers()
            h.wfile.write(body)
        elif kind == "endless":  # no length, 16 MiB of zeros, then the connection closes
            h.send_response(200)
            h.end_headers()
            block = bytes(1 << 16)
            for _ in range(256):
                h.wfile.write(block)
        elif kind == "trickle":  # one byte every 0.2 s, for up to a minute
            h.send_response(200)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            for i in range(300):
                h.wfile.write(body[i:i + 1])
                h.wfile.flush()
                time.sleep(0.2)
        elif kind == "other-host":
            h.send_response(302)
            h.send_header("Location", f"http://localhost:{self.port}/ok/{name}")
            h.send_header("Content-Length", "0")
            h.end_headers()
        elif kind == "to-file":
            h.send_response(302)
            h.send_header("Location", "file:///etc/passwd")
            h.send_header("Content-Length", "0")
            h.end_headers()
        elif kind == "loop":
            h.send_response(302)
            h.send_header("Location", f"http://127.0.0.1:{self.port}/loop/{name}")
            h.send_header("Content-Length", "0")
            h.end_headers()


@pytest.fixture(scope="module")
def server():
    srv = Server()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


SERVER: dict[str, Server] = {}


def _download(kind: str, body: bytes | None = None, archive: str = "zip", env: dict | None = None, extra=None):
    def setup(ctx: Ctx) -> list[str]:
        from harness.data import download as dl
        srv = SERVER["current"]
        name = f"{kind}-{id(ctx)}"
        if body is not None:
            srv.files[name] = body
        source = dl.DataSource("cyclegan", "tiny", (f"http://127.0.0.1:{srv.port}/{kind}/{name}",), archive, None)
        ctx.patches.append(mock.patch.object(dl, "load_sources", lambda path=None: {"cyclegan/tiny": source}))
        ctx.env.update({"HARNESS_OFFLINE": "0", "HARNESS_DOWNLOAD_DEADLINE_S": "2",
                        "HARNESS_DOWNLOAD_MAX_BYTES": str(1 << 20), **(env or {})})
        if extra:
            extra(ctx)
        ctx.data_root.mkdir(parents=True, exist_ok=True)
        ctx.writable = [ctx.data_root]
        return ["data", "download", "cyclegan/tiny", "--data-root", str(ctx.data_root), "--timeout", "5"]
    return setup


def _nothing_special(ctx: Ctx, _: str) -> str | None:
    """No device, FIFO, link leaving the data root, setuid or world-writable file was extracted."""
    root = ctx.data_root.resolve()
    for path in ctx.data_root.rglob("*"):
        info = path.lstat()
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode) or stat.S_ISLNK(info.st_mode)):
            return f"extracted a special file {path.name}"
        if stat.S_ISLNK(info.st_mode) and root not in path.resolve().parents:
            return f"extracted a link leaving the data root: {path.name}"
        if stat.S_ISREG(info.st_mode) and info.st_mode & (stat.S_ISUID | stat.S_ISGID | stat.S_IWOTH):
            return f"extracted {path.name} with mode {oct(info.st_mode)}"
    return None


def _small_part(ctx: Ctx, _: str) -> str | None:
    sizes = [p.stat().st_size for p in ctx.data_root.rglob("*") if p.is_file()]
    return f"wrote {max(sizes):,} bytes past the cap" if sizes and max(sizes) > (1 << 20) + (1 << 16) else None


def _archive_kept(ctx: Ctx, output: str) -> str | None:
    if "corrupt" in output:
        return "a full disk was reported as a corrupt archive"
    return None if list(ctx.data_root.glob(".downloads/tiny.*")) else "the downloaded archive was deleted"


def _disk_full_extracting(ctx: Ctx) -> None:
    ctx.patches.append(mock.patch("shutil.copyfileobj", side_effect=OSError(errno.ENOSPC, "No space left on device")))


DOWNLOAD_CASES = [
    Case("download-404", "downloads", _download("missing"), FAIL),
    Case("download-bad-content-length", "downloads", _download("bad-length"), FAIL),
    Case("download-negative-content-length", "downloads", _download("negative-length"), FAIL),
    Case("download-huge-content-length", "downloads", _download("huge-length"), FAIL, check=_small_part),
    Case("download-endless-body", "downloads", _download("endless"), FAIL, check=_small_part),
    Case("download-trickle", "downloads", _download("trickle"), FAIL, seconds=12),
    Case("download-redirect-other-host", "downloads", _download("other-host"), FAIL),
    Case("download-redirect-file-url", "downloads", _download("to-file"), FAIL),
    Case("download-redirect-loop", "downloads", _download("loop"), FAIL),
    Case("download-corrupt-zip", "downloads", _download("ok", _zip_bytes()[:-40]), FAIL),
    Case("download-not-an-archive", "downloads", _download("ok", b"<html>not found</html>"), FAIL),
    Case("download-zip-dotdot", "downloads",
         _download("ok", (lambda: (lambda b: (zipfile.ZipFile(b, "a").writestr("../../escaped.txt", "x"), b)[1]
                                   .getvalue())(io.BytesIO(_zip_bytes())))()), (0, 1)),
    Case("download-tar-device", "downloads",
         _download("ok", _tar_bytes(_member("tiny/trainA/dev", tarfile.CHRTYPE, devmajor=1, devminor=3)), "tar.gz"),
         FAIL, check=_nothing_special),
    Case("download-tar-fifo", "downloads",
         _download("ok", _tar_bytes(_member("tiny/trainA/pipe", tarfile.FIFOTYPE)), "tar.gz"), FAIL,
         check=_nothing_special),
    Case("download-tar-setuid", "downloads",
         _download("ok", _tar_bytes(_member("tiny/trainA/run.sh", tarfile.REGTYPE, size=4, mode=0o4777)), "tar.gz"),
         (0, 1), check=_nothing_special),
    Case("download-tar-symlink-out", "downloads",
         _download("ok", _tar_bytes(_member("tiny/trainA/pw", tarfile.SYMTYPE, linkname="/etc/passwd")), "tar.gz"),
         FAIL, check=_nothing_special),
    Case("download-tar-hardlink-out", "downloads",
         _download("ok", _tar_bytes(_member("tiny/trainA/pw", tarfile.LNKTYPE, linkname="/etc/passwd")), "tar.gz"),
         FAIL, check=_nothing_special),
    Case("download-tar-dotdot", "downloads",
         _download("ok", _tar_bytes(_member("../../escaped.txt", tarfile.REGTYPE, size=3)), "tar.gz"), FAIL),
    Case("download-disk-full-extracting", "downloads", _download("ok", extra=_disk_full_extracting), FAIL,
         check=_archive_kept),
]


@pytest.mark.parametrize("case", DOWNLOAD_CASES, ids=str)
def test_hostile_download_servers_and_archives(case: Case, ctx: Ctx, server: Server) -> None:
    SERVER["current"] = server
    assert_clean(case, ctx)
