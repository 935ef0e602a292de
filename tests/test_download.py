"""Downloads against a loopback HTTP server: full fetch, interrupted + resumed fetch, corrupt archive,
digest verification, and the `harness data download` verb."""
from __future__ import annotations

import io
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from harness.data.download import DataSource, DownloadInterrupted, download, extract, fetch, find_source, load_sources
from harness.data.manifest import build_manifest
from harness.errors import HarnessError, UsageError


def _zip_bytes(name: str = "tiny2set") -> bytes:
    """A CycleGAN-style zip: <name>/trainA ... testB with a few 8x8 PNGs."""
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for folder in ("trainA", "trainB", "testA", "testB"):
            for i in range(3):
                png = io.BytesIO()
                Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(png, "PNG")
                zf.writestr(f"{name}/{folder}/{i}.png", png.getvalue())
    return buf.getvalue()


class _Server:
    """Threaded loopback server serving `files` with Range support; can cut the first response short."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut_after: int | None = None  # bytes sent before dropping the next full response
        self.ranges: list[str | None] = []
        self.honour_range = True
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                rng = self.headers.get("Range")
                server.ranges.append(rng)
                start = 0
                if rng and server.honour_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                payload = body[start:]
                if server.cut_after is not None:
                    payload, server.cut_after = payload[:server.cut_after], None
                    self.wfile.write(payload)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.timeout = 5
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def server():
    srv = _Server()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()
        srv.thread.join(timeout=5)


def test_full_download(server, tmp_path):
    body = _zip_bytes()
    server.files["/a.zip"] = body
    out = fetch(server.base + "/a.zip", tmp_path / "a.zip", timeout=5)
    assert out.read_bytes() == body
    assert not (tmp_path / "a.zip.part").exists()
    assert server.ranges == [None]


def test_interrupted_download_resumes_with_range(server, tmp_path):
    body = _zip_bytes()
    server.files["/a.zip"] = body
    server.cut_after = 1000
    dest = tmp_path / "a.zip"
    with pytest.raises(DownloadInterrupted, match="run again to resume"):
        fetch(server.base + "/a.zip", dest, timeout=5)
    part = tmp_path / "a.zip.part"
    assert part.stat().st_size == 1000 and not dest.exists()
    fetch(server.base + "/a.zip", dest, timeout=5)
    assert server.ranges == [None, "bytes=1000-"]
    assert dest.read_bytes() == body and not part.exists()


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    body = _zip_bytes()
    server.files["/a.zip"] = body
    server.honour_range = False
    (tmp_path / "a.zip.part").write_bytes(b"stale bytes")
    fetch(server.base + "/a.zip", tmp_path / "a.zip", timeout=5)
    assert (tmp_path / "a.zip").read_bytes() == body


def test_part_file_already_complete(server, tmp_path):
    body = _zip_bytes()
    server.files["/a.zip"] = body
    (tmp_path / "a.zip.part").write_bytes(body)
    fetch(server.base + "/a.zip", tmp_path / "a.zip", timeout=5)
    assert (tmp_path / "a.zip").read_bytes() == body


def test_http_error_names_url(server, tmp_path):
    with pytest.raises(HarnessError, match="HTTP 404"):
        fetch(server.base + "/missing.zip", tmp_path / "m.zip", timeout=5)


def test_unreachable_mirror_falls_through_to_the_next(server, tmp_path):
    import socket
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/tiny2set.zip"
    server.files["/tiny2set.zip"] = _zip_bytes()
    source = DataSource("cyclegan", "tiny2set", (dead, server.base + "/tiny2set.zip"), "zip")
    assert download(source, tmp_path, timeout=5).n_files == 12
    server.files.clear()
    with pytest.raises(HarnessError, match="no mirror .* answered"):
        download(DataSource("cyclegan", "other", (dead,), "zip"), tmp_path, timeout=5)


def _source(server, name="tiny2set") -> DataSource:
    return DataSource("cyclegan", name, (server.base + "/missing.zip", server.base + f"/{name}.zip"), "zip")


def test_download_extracts_and_verifies(server, tmp_path):
    server.files["/tiny2set.zip"] = _zip_bytes()
    # The digest a correct download must have: the manifest of the same files extracted by hand.
    ref = tmp_path / "ref"
    ref.mkdir()
    (ref / "x.zip").write_bytes(_zip_bytes())
    expected = build_manifest(extract(ref / "x.zip", ref, "tiny2set")).digest
    root = tmp_path / "root"
    result = download(_source(server), root, expected_digest=expected, timeout=5)
    assert result.verified and result.n_files == 12
    assert sorted(p.name for p in (root / "tiny2set").iterdir()) == ["testA", "testB", "trainA", "trainB"]
    assert not (root / ".downloads" / "tiny2set.zip").exists()  # archive removed after extraction


def test_digest_mismatch_is_an_error(server, tmp_path):
    server.files["/tiny2set.zip"] = _zip_bytes()
    with pytest.raises(HarnessError, match="does not match the expected"):
        download(_source(server), tmp_path, expected_digest="0" * 64, timeout=5)


def test_corrupt_archive_is_deleted_with_clear_error(server, tmp_path):
    body = bytearray(_zip_bytes())
    body[200:260] = b"\x00" * 60  # damage member data: the CRC check fails
    server.files["/tiny2set.zip"] = bytes(body)
    with pytest.raises(HarnessError, match="corrupt.*deleted"):
        download(_source(server), tmp_path, timeout=5)
    assert not (tmp_path / ".downloads" / "tiny2set.zip").exists()
    assert not (tmp_path / ".downloads" / "tiny2set.zip.part").exists()
    assert not (tmp_path / "tiny2set").exists()
    server.files["/tiny2set.zip"] = b"this is not an archive at all"
    with pytest.raises(HarnessError, match="corrupt"):
        download(_source(server), tmp_path, timeout=5)
    assert not any((tmp_path / ".downloads").glob("tiny2set.zip*"))


def test_sources_resolve_names_and_tasks():
    sources = load_sources()
    urls = find_source("horse2zebra", sources).urls
    assert urls[0].startswith("https://")  # https mirrors first
    assert any(u.endswith("/cyclegan/datasets/horse2zebra.zip") for u in urls)
    assert find_source("summer2winter", sources).name == "summer2winter_yosemite"  # by task name
    assert find_source("pix2pix/facades", sources).archive == "tar.gz"
    with pytest.raises(UsageError, match="several families"):
        find_source("facades", sources)
    with pytest.raises(UsageError, match="did you mean 'cyclegan/horse2zebra'"):
        find_source("cyclegan/hrse2zebra", sources)


def test_cli_download_prints_digest_to_record(server, tmp_path, monkeypatch, capsys):
    from harness.cli import main
    import harness.data.download as dl
    server.files["/tiny2set.zip"] = _zip_bytes()
    monkeypatch.setattr(dl, "load_sources", lambda path=None: {"cyclegan/tiny2set": _source(server)})
    assert main(["data", "download", "tiny2set", "--data-root", str(tmp_path), "--timeout", "5"]) == 0
    out = capsys.readouterr().out
    assert "record" in out and build_manifest(tmp_path / "tiny2set").digest in out
