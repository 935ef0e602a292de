"""The Inception weights' download path against a loopback HTTP server, their full-hash check, and
loading them without running code.

The real file (95 MB) is not served here: a small state dict stands in for it, and the tests that
need it to pass the hash check set the expected sha256 to that file's hash. Every test points
TORCH_HOME at a temporary folder, never at the real cache.
"""
from __future__ import annotations

import hashlib
import io
import json
import pickle
import socket

import pytest
import torch

from harness.evaluation import inception
from harness.evaluation.inception import (INCEPTION_FILE, INCEPTION_SHA256, WeightsUnavailable,
                                          load_inception_state, locate_inception_weights)
from test_download import server  # noqa: F401  (the loopback HTTP server fixture)


@pytest.fixture
def online(tmp_path, monkeypatch):
    """Downloads allowed, an empty private torch cache, no weights path from the environment."""
    monkeypatch.delenv("HARNESS_OFFLINE", raising=False)
    monkeypatch.delenv("HARNESS_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    inception._hash_memo.clear()
    inception._failed.clear()
    return tmp_path / "torch-home" / "hub" / "checkpoints"


def _files(folder) -> list[str]:
    """The cache folder's files, less the download lock (an empty file that stays, by design)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock")) if folder.exists() else []


def _fake_weights() -> bytes:
    buf = io.BytesIO()
    torch.save({"conv.weight": torch.arange(6000, dtype=torch.float32).reshape(10, 600)}, buf)
    return buf.getvalue()


def _serve(server, monkeypatch, body: bytes) -> str:
    server.files["/w.pth"] = body
    url = server.base + "/w.pth"
    monkeypatch.setenv("HARNESS_INCEPTION_URL", url)
    return url


def test_download_into_torch_fidelity_cache(server, online, monkeypatch):
    body = _fake_weights()
    _serve(server, monkeypatch, body)
    monkeypatch.setattr(inception, "INCEPTION_SHA256", hashlib.sha256(body).hexdigest())
    weights = locate_inception_weights()
    assert weights.path == online / INCEPTION_FILE and weights.path.read_bytes() == body
    assert weights.origin.startswith("downloaded from http://127.0.0.1")
    assert _files(online) == [INCEPTION_FILE]  # no .part, no staging file
    # the next call finds it in the cache and downloads nothing
    again = locate_inception_weights()
    assert again.origin == "torch-fidelity cache" and server.ranges == [None]
    assert set(load_inception_state(weights.path)) == {"conv.weight"}


def test_wrong_hash_is_refused_and_nothing_is_left_in_the_cache(server, online, monkeypatch):
    body = _fake_weights()
    _serve(server, monkeypatch, body)
    with pytest.raises(WeightsUnavailable) as info:
        locate_inception_weights()
    message = str(info.value)
    assert hashlib.sha256(body).hexdigest() in message and INCEPTION_SHA256 in message and "deleted" in message
    assert _files(online) == []
    # not fetched again by the next metric or run of the same process, and refused for the same reason
    with pytest.raises(WeightsUnavailable) as again:
        locate_inception_weights()
    assert str(again.value) == message
    assert server.ranges == [None]


def test_server_dying_mid_file_keeps_only_a_part_file_and_resumes(server, online, monkeypatch):
    body = _fake_weights()
    _serve(server, monkeypatch, body)
    monkeypatch.setattr(inception, "INCEPTION_SHA256", hashlib.sha256(body).hexdigest())
    server.cut_after = 5000
    with pytest.raises(WeightsUnavailable, match="interrupted at 5,000"):
        locate_inception_weights()
    assert not (online / INCEPTION_FILE).exists()  # never a half file under the name torch-fidelity reads
    assert _files(online) == [INCEPTION_FILE + ".download.part"]
    weights = locate_inception_weights()
    assert weights.path.read_bytes() == body and server.ranges == [None, "bytes=5000-"]
    assert _files(online) == [INCEPTION_FILE]


def _closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there: connection refused, as without a network
    return f"http://127.0.0.1:{port}/{INCEPTION_FILE}"


def test_offline_forbids_the_download(online, monkeypatch):
    monkeypatch.setenv("HARNESS_OFFLINE", "1")
    monkeypatch.setenv("HARNESS_INCEPTION_URL", _closed_port_url())
    with pytest.raises(WeightsUnavailable, match=r"downloads are off \(--offline"):
        locate_inception_weights()


def test_no_network_run_completes_with_kid_unavailable_and_the_fix(online, tmp_path, monkeypatch, capsys):
    from harness.cli import main
    monkeypatch.setenv("HARNESS_INCEPTION_URL", _closed_port_url())
    assert main(["run", "--task", "demo", "--methods", "identity", "--schedule", "smoke", "--device", "cpu",
                 "--out", str(tmp_path / "results")]) == 0
    captured = capsys.readouterr()
    result = json.loads((tmp_path / "results" / "demo" / "identity" / "smoke-seed0" / "result.json").read_text())
    for key in ("target_kid_x100", "target_fid", "fused_kid_x100"):
        entry = result["metrics"]["directions"]["A2B"][key]
        assert entry["status"] == "unavailable"
        assert "download failed: cannot reach http://127.0.0.1" in entry["reason"] and "fix:" in entry["reason"]
    # the end of `harness run` says what could not be computed and the command that fixes it
    assert "target_kid_x100" in captured.err and "harness evaluate" in captured.err
    assert captured.out.strip().endswith("result.json")  # stdout: result paths only, for scripts
    assert not (online / INCEPTION_FILE).exists()


class _Exploit:
    def __reduce__(self):
        return (exec, ("open(__import__('os').environ['EXPLOIT_MARKER'], 'w').write('ran')",))


def test_a_weights_file_holding_code_is_refused_without_running_it(tmp_path, monkeypatch):
    marker = tmp_path / "marker"
    monkeypatch.setenv("EXPLOIT_MARKER", str(marker))
    crafted = tmp_path / INCEPTION_FILE
    with open(crafted, "wb") as fh:
        pickle.dump({"conv.weight": _Exploit()}, fh)
    with pytest.raises(Exception):
        load_inception_state(crafted)
    with pytest.raises(WeightsUnavailable, match="expected " + INCEPTION_SHA256):
        locate_inception_weights(crafted)
    assert not marker.exists()


def test_torch_fidelity_builds_from_a_weights_only_load(tmp_path, monkeypatch):
    """torch-fidelity 0.4 loads a weights path with weights_only=False: the file itself must only
    ever be read by the harness, with weights_only=True."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    from harness.evaluation.features import FeatureExtractor
    from harness.evaluation.inception import WeightsFile
    from harness.registry import FEATURE_EXTRACTORS
    with monkeypatch.context() as patch:  # a randomly initialised network's state dict stands in for the file
        patch.setattr(FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        empty = io.BytesIO()
        torch.save({}, empty)
        empty.seek(0)
        state = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                            feature_extractor_weights_path=empty).state_dict()
    path = tmp_path / INCEPTION_FILE
    torch.save(state, path)
    reads = []
    real_load = torch.load

    def spy(f, *args, **kwargs):
        reads.append((isinstance(f, io.BytesIO), kwargs.get("weights_only")))
        return real_load(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    extractor = FeatureExtractor(FEATURE_EXTRACTORS.get("inception-v3-compat"), WeightsFile(path, "x", "test"),
                                 torch.device("cpu"))
    module = extractor._build()
    assert (False, True) in reads and (False, False) not in reads and (False, None) not in reads
    built = module.state_dict()
    assert all(torch.equal(built[k], state[k]) for k in ("Conv2d_1a_3x3.conv.weight", "fc.weight"))
