"""Hostile and damaged checkpoints, run.json files and run-folder files under `harness resume`: a one-line error
naming the file (and `--from-previous` where it helps), never a traceback, a hang, a silent `complete` from a
bad checkpoint, or a write through a planted symlink.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import pytest
import torch

from hostile_kit import Case, Ctx, assert_clean, ctx, demo_template  # noqa: F401

FAIL = (1,)


def _resume(ctx: Ctx, *extra: str) -> list[str]:
    (ctx.run_dir / "result.json").unlink(missing_ok=True)  # an interrupted run: resumable
    ctx.writable = [ctx.run_dir]
    return ["resume", str(ctx.run_dir), "--device", "cpu", *extra]


def _latest(ctx: Ctx) -> Path:
    return ctx.run_dir / "checkpoints" / "latest.pt"


def _refresh_digest(path: Path) -> None:
    """A crafted file that is internally consistent: its digest file (where the harness writes one) matches."""
    sidecar = path.with_name(path.name + ".sha256")
    if sidecar.exists():
        sidecar.write_text(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n")


def _craft(edit, consistent: bool = True):
    """Rewrite latest.pt with `edit(payload)` applied, as someone with torch.save would."""
    def setup(ctx: Ctx) -> list[str]:
        path = _latest(ctx)
        payload = torch.load(path, map_location="cpu", weights_only=True)
        replaced = edit(payload)
        torch.save(payload if replaced is None else replaced, path)
        if consistent:
            _refresh_digest(path)
        return _resume(ctx)
    return setup


def _flip(fraction: float):
    def setup(ctx: Ctx) -> list[str]:
        path = _latest(ctx)
        data = bytearray(path.read_bytes())
        data[int(len(data) * fraction)] ^= 0x5A
        path.write_bytes(bytes(data))
        return _resume(ctx)
    return setup


def _truncate(fraction: float):
    def setup(ctx: Ctx) -> list[str]:
        path = _latest(ctx)
        data = path.read_bytes()
        path.write_bytes(data[:int(len(data) * fraction)])
        return _resume(ctx)
    return setup


def _replace_with(make):
    def setup(ctx: Ctx) -> list[str]:
        path = _latest(ctx)
        path.unlink()
        make(ctx, path)
        return _resume(ctx)
    return setup


def _model_key(payload: dict) -> str:
    return next(k for k, v in payload["model"].items() if v.is_floating_point() and v.dim() == 4)


def _rename_layer(payload: dict) -> None:
    key = _model_key(payload)
    payload["model"][key.replace(".weight", ".renamed_weight")] = payload["model"].pop(key)


def _reshape(payload: dict) -> None:
    key = _model_key(payload)
    payload["model"][key] = torch.zeros(tuple(s + 1 for s in payload["model"][key].shape))


def _fill(value: float, every: bool):
    def edit(payload: dict) -> None:
        for key, tensor in payload["model"].items():
            if tensor.is_floating_point():
                tensor.fill_(value) if every else tensor.view(-1)[0].fill_(value)
                if not every:
                    break
    return edit


def _as_int(payload: dict) -> None:
    for key, tensor in list(payload["model"].items()):
        if tensor.is_floating_point():
            payload["model"][key] = tensor.to(torch.int32)


def _optimizer_nan(payload: dict) -> None:
    for state in payload["optimizers"].values():
        for values in state["state"].values():
            for v in values.values():
                if torch.is_tensor(v) and v.is_floating_point():
                    v.fill_(float("nan"))
                    return


def _compressed(ctx: Ctx, path: Path) -> None:
    """The real checkpoint's records deflated: torch.save never writes that; it would inflate in memory."""
    source = ctx.run_dir / "checkpoints" / "previous.pt"
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))


def _bomb(ctx: Ctx, path: Path) -> None:
    """A small file declaring a 2 GiB record of zeros (deflate compresses them ~1000:1)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        with dst.open("archive/data/0", "w", force_zip64=True) as fh:
            block = bytes(1 << 20)
            for _ in range(64):  # 64 MiB here keeps the test fast; the ratio is what is refused
                fh.write(block)
        dst.writestr("archive/data.pkl", b"\x80\x02}q\x00.")


def _pickle_with_code(ctx: Ctx, path: Path) -> None:
    marker = ctx.tmp / "code-ran"
    buf = io.BytesIO()
    # GLOBAL os.system with an argument: weights_only loading must refuse before calling it
    buf.write(b"\x80\x02cos\nsystem\nq\x00X" + len(f"touch {marker}").to_bytes(4, "little")
              + f"touch {marker}".encode() + b"q\x01\x85q\x02Rq\x03.")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as dst:
        dst.writestr("archive/data.pkl", buf.getvalue())
        dst.writestr("archive/version", "3\n")


def _no_code_ran(ctx: Ctx, _: str) -> str | None:
    return "a pickled command ran" if (ctx.tmp / "code-ran").exists() else None


def _mentions(*words: str):
    def check(ctx: Ctx, output: str) -> str | None:
        missing = [w for w in words if w not in output]
        return f"the message does not say {missing[0]!r}" if missing else None
    return check


FROM_PREVIOUS = _mentions("--from-previous")

CHECKPOINT_CASES = [
    *[Case(f"flip-{int(f * 1000)}", "checkpoints", _flip(f), FAIL, check=FROM_PREVIOUS)
      for f in (0.001, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999)],
    *[Case(f"truncate-{int(f * 100)}", "checkpoints", _truncate(f), FAIL)
      for f in (0.0, 0.01, 0.25, 0.5, 0.75, 0.99)],
    Case("renamed-layer", "checkpoints", _craft(_rename_layer), FAIL, check=_mentions("renamed_weight")),
    Case("resized-layer", "checkpoints", _craft(_reshape), FAIL, check=_mentions("shape")),
    Case("all-nan-weights", "checkpoints", _craft(_fill(float("nan"), True)), FAIL),
    Case("one-inf-weight", "checkpoints", _craft(_fill(float("inf"), False)), FAIL),
    Case("int-truncated-weights", "checkpoints", _craft(_as_int), FAIL),
    Case("optimizer-state-nan", "checkpoints", _craft(_optimizer_nan), FAIL),
    Case("negative-step", "checkpoints", _craft(lambda p: p["position"].update(step=-5)), FAIL),
    Case("step-string", "checkpoints", _craft(lambda p: p["position"].update(step="9")), FAIL),
    Case("step-past-schedule", "checkpoints", _craft(lambda p: p["position"].update(step=10 ** 9)), FAIL),
    Case("no-position", "checkpoints", _craft(lambda p: p.pop("position")), FAIL),
    Case("no-model", "checkpoints", _craft(lambda p: p.pop("model")), FAIL),
    Case("no-rng", "checkpoints", _craft(lambda p: p.pop("rng")), FAIL),
    Case("no-trainer", "checkpoints", _craft(lambda p: p.pop("trainer")), FAIL),
    Case("model-entry-not-tensor", "checkpoints",
         _craft(lambda p: p["model"].update({_model_key(p): [1.0, 2.0]})), FAIL),
    Case("optimizers-missing", "checkpoints", _craft(lambda p: p.update(optimizers={})), FAIL),
    Case("optimizer-state-list", "checkpoints",
         _craft(lambda p: p["optimizers"].update({k: [] for k in p["optimizers"]})), FAIL),
    Case("rng-garbage", "checkpoints", _craft(lambda p: p.update(rng={"torch": torch.zeros(3), "python": {},
                                                                        "numpy": {}})), FAIL),
    Case("format-1", "checkpoints", _craft(lambda p: p.update(format=1)), FAIL),
    Case("payload-list", "checkpoints", _craft(lambda p: [1, 2, 3]), FAIL),
    Case("payload-tensor", "checkpoints", _craft(lambda p: torch.zeros(3)), FAIL),
    Case("edited-without-digest", "checkpoints", _craft(_fill(0.5, True), consistent=False), FAIL),
    Case("empty-file", "checkpoints", _replace_with(lambda c, p: p.write_bytes(b"")), FAIL),
    Case("etc-passwd", "checkpoints", _replace_with(lambda c, p: p.write_bytes(b"root:x:0:0:root:/root:/bin/sh\n")),
         FAIL),
    Case("random-bytes", "checkpoints", _replace_with(lambda c, p: p.write_bytes(os.urandom(4096))), FAIL),
    Case("json-file", "checkpoints", _replace_with(lambda c, p: p.write_text(json.dumps({"format": 2}))), FAIL),
    Case("fifo", "checkpoints", _replace_with(lambda c, p: os.mkfifo(p)), FAIL, seconds=15),
    Case("symlink-dev-zero", "checkpoints", _replace_with(lambda c, p: p.symlink_to("/dev/zero")), FAIL, seconds=15),
    Case("folder", "checkpoints", _replace_with(lambda c, p: p.mkdir()), FAIL),
    Case("compressed-records", "checkpoints", _replace_with(_compressed), FAIL),
    Case("zip-bomb", "checkpoints", _replace_with(_bomb), FAIL),
    Case("pickle-runs-code", "checkpoints", _replace_with(_pickle_with_code), FAIL, check=_no_code_ran),
]


# ---------------------------------------------------------------------------------------------- run.json
def _run_json(edit):
    def setup(ctx: Ctx) -> list[str]:
        path = ctx.run_dir / "run.json"
        record = json.loads(path.read_text())
        replaced = edit(record)
        if isinstance(replaced, str):
            path.write_text(replaced)
        else:
            path.write_text(json.dumps(record if replaced is None else replaced))
        return _resume(ctx)
    return setup


RUN_JSON_CASES = [
    Case("run-json-invalid", "run.json", _run_json(lambda r: "{\"spec\": "), FAIL),
    Case("run-json-list", "run.json", _run_json(lambda r: [r]), FAIL),
    Case("run-json-no-spec", "run.json", _run_json(lambda r: r.pop("spec")), FAIL),
    Case("run-json-spec-null", "run.json", _run_json(lambda r: r.update(spec=None)), FAIL),
    Case("run-json-seed-string", "run.json", _run_json(lambda r: r["spec"].update(seed="zero")), (1, 2)),
    Case("run-json-task-path", "run.json", _run_json(lambda r: r["spec"].update(task="../../outside")), (1, 2)),
    Case("run-json-unknown-key", "run.json", _run_json(lambda r: r["spec"].update(colour="red")), FAIL),
    Case("run-json-overrides-list", "run.json", _run_json(lambda r: r["spec"].update(overrides=["ngf=2"])), (1, 2)),
    Case("run-json-no-trained-on", "run.json", _run_json(lambda r: r.pop("trained_on")), FAIL),
    Case("run-json-trained-on-string", "run.json", _run_json(lambda r: r.update(trained_on="x")), FAIL),
    Case("run-json-no-manifest-digest", "run.json",
         _run_json(lambda r: r["trained_on"].pop("data_manifest_digest")), FAIL),
    Case("run-json-schedule-string", "run.json", _run_json(lambda r: r["trained_on"].update(schedule="x")), FAIL),
    Case("run-json-fifo", "run.json", lambda c: (os.remove(c.run_dir / "run.json"), os.mkfifo(c.run_dir / "run.json"),
                                                 _resume(c))[2], (1, 2), seconds=15),
]


def _lock_link(ctx: Ctx) -> list[str]:
    (ctx.run_dir / "run.lock").unlink(missing_ok=True)
    (ctx.run_dir / "run.lock").symlink_to(ctx.outside / "secret.txt")
    return _resume(ctx)


def _lock_fifo(ctx: Ctx) -> list[str]:
    os.mkfifo(ctx.run_dir / "run.lock")
    return _resume(ctx)


RUN_FOLDER_CASES = [
    Case("run-lock-symlink", "run folder", _lock_link, FAIL),
    Case("run-lock-fifo", "run folder", _lock_fifo, FAIL, seconds=15),
    Case("run-lock-folder", "run folder", lambda c: ((c.run_dir / "run.lock").mkdir(), _resume(c))[1], FAIL),
    Case("from-previous-after-a-flip", "run folder",
         lambda c: (_flip(0.5)(c), _resume(c, "--from-previous"))[1], (0,)),
]


@pytest.mark.parametrize("case", CHECKPOINT_CASES + RUN_JSON_CASES + RUN_FOLDER_CASES, ids=str)
def test_hostile_checkpoints_and_run_files(case: Case, ctx: Ctx) -> None:
    assert_clean(case, ctx)
