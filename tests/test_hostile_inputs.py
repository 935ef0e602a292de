"""Hostile values and files given to `harness run` and `harness data verify`: schedule files, `--set` values,
CLI options and data folders. Each is refused up front with one line
(exit 2 for usage errors), without a traceback, a hang, training on nonsense, or a write outside its folder.
"""
from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from hostile_kit import Case, Ctx, assert_clean, ctx, demo_data_copy, demo_template  # noqa: F401

USAGE = (2,)
FAIL = (1,)
TRAINS = 60  # seconds for cases that a harness without the check would train on


# ------------------------------------------------------------------------------------------ schedules and --set
SCHEDULE = {"name": "hostile", "description": "a schedule file from elsewhere", "epochs_constant": 1,
            "epochs_decay": 0, "max_iters_per_epoch": 2, "image_size": 32, "checkpoint_every": 2, "log_every": 1}


def run_argv(ctx: Ctx, *extra: str) -> list[str]:
    out = ctx.tmp / "runs"
    ctx.writable = [out]
    return ["run", "--task", "demo", "--methods", "cyclegan", "--device", "cpu", "--out", str(out), *extra]


def _schedule(edit=None, text: str | None = None):
    def setup(ctx: Ctx) -> list[str]:
        path = ctx.tmp / "hostile.yaml"
        if text is not None:
            path.write_text(text)
        else:
            # a name of its own: schedules register by name, and the cases share one process
            data = {**SCHEDULE, "name": f"hostile-{ctx.tmp.name[-40:]}".replace("[", "").replace("]", "")}
            replaced = edit(data) if edit else None
            path.write_text(yaml.safe_dump(data if replaced is None else replaced))
        return run_argv(ctx, "--schedule", str(path))
    return setup


def _key(key, value):
    return lambda d: d.__setitem__(key, value)


def _no_code_ran(ctx: Ctx, _: str) -> str | None:
    return "YAML ran a command" if (ctx.tmp / "yaml-ran").exists() else None


SCHEDULE_CASES = [
    Case("schedule-zero-epochs", "schedules", _schedule(_key("epochs_constant", 0)), USAGE, seconds=TRAINS),
    Case("schedule-negative-epochs", "schedules", _schedule(_key("epochs_constant", -1)), USAGE, seconds=TRAINS),
    Case("schedule-negative-decay", "schedules", _schedule(_key("epochs_decay", -3)), USAGE, seconds=TRAINS),
    Case("schedule-lr-negative", "schedules", _schedule(_key("lr", -1.0)), USAGE, seconds=TRAINS),
    Case("schedule-lr-zero", "schedules", _schedule(_key("lr", 0.0)), USAGE, seconds=TRAINS),
    Case("schedule-lr-nan", "schedules", _schedule(_key("lr", float("nan"))), USAGE, seconds=TRAINS),
    Case("schedule-lr-inf", "schedules", _schedule(_key("lr", float("inf"))), USAGE, seconds=TRAINS),
    Case("schedule-lr-string", "schedules", _schedule(_key("lr", "fast")), USAGE),
    Case("schedule-batch-zero", "schedules", _schedule(_key("batch_size", 0)), USAGE, seconds=TRAINS),
    Case("schedule-batch-negative", "schedules", _schedule(_key("batch_size", -2)), USAGE, seconds=TRAINS),
    Case("schedule-batch-float", "schedules", _schedule(_key("batch_size", 1.5)), USAGE),
    Case("schedule-iters-zero", "schedules", _schedule(_key("max_iters_per_epoch", 0)), USAGE, seconds=TRAINS),
    Case("schedule-image-size-zero", "schedules", _schedule(_key("image_size", 0)), USAGE, seconds=TRAINS),
    Case("schedule-image-size-negative", "schedules", _schedule(_key("image_size", -32)), USAGE, seconds=TRAINS),
    Case("schedule-betas-out-of-range", "schedules", _schedule(_key("betas", [2, 3])), USAGE, seconds=TRAINS),
    Case("schedule-betas-string", "schedules", _schedule(_key("betas", "fast")), USAGE),
    Case("schedule-gan-loss-unknown", "schedules", _schedule(_key("gan_loss", "hinge2")), USAGE),
    Case("schedule-lr-decay-unknown", "schedules", _schedule(_key("lr_decay", "sometimes")), USAGE),
    Case("schedule-log-every-zero", "schedules", _schedule(_key("log_every", 0)), USAGE, seconds=TRAINS),
    Case("schedule-checkpoint-every-zero", "schedules", _schedule(_key("checkpoint_every", 0)), USAGE,
         seconds=TRAINS),
    Case("schedule-unknown-key", "schedules", _schedule(_key("epochz", 3)), USAGE),
    Case("schedule-name-path", "schedules", _schedule(_key("name", "../../outside")), USAGE),
    Case("schedule-name-missing", "schedules", _schedule(lambda d: d.pop("name")), USAGE),
    Case("schedule-method-defaults-list", "schedules", _schedule(_key("method_defaults", [1])), USAGE),
    Case("schedule-method-defaults-ngf-zero", "schedules", _schedule(_key("method_defaults", {"ngf": 0})), USAGE,
         seconds=TRAINS),
    Case("schedule-not-yaml", "schedules", _schedule(text="name: [unclosed\n  - :"), USAGE),
    Case("schedule-top-level-list", "schedules", _schedule(text="- 1\n- 2\n"), USAGE),
    Case("schedule-empty", "schedules", _schedule(text=""), USAGE),
    Case("schedule-python-tag", "schedules",
         lambda c: _schedule(text=f"!!python/object/apply:os.system ['touch {c.tmp / 'yaml-ran'}']\n")(c), USAGE,
         check=_no_code_ran),
    Case("schedule-fifo", "schedules", lambda c: (os.mkfifo(c.tmp / "f.yaml"),
                                                  run_argv(c, "--schedule", str(c.tmp / "f.yaml")))[1], USAGE,
         seconds=15),
    Case("schedule-folder", "schedules", lambda c: ((c.tmp / "d.yaml").mkdir(),
                                                    run_argv(c, "--schedule", str(c.tmp / "d.yaml")))[1], USAGE),
]

SET_VALUES = {"ngf-zero": "ngf=0", "ngf-negative": "ngf=-4", "ngf-string": "ngf=wide", "ngf-float": "ngf=1.5",
              "ngf-list": "ngf=[4]", "ndf-zero": "ndf=0", "n-blocks-negative": "n_blocks=-1",
              "lr-negative": "lr=-1", "lr-zero": "lr=0", "lr-nan": "lr=.nan", "lr-inf": "lr=.inf",
              "lr-string": "lr=fast", "lambda-negative": "lambda_cycle=-1", "lambda-nan": "lambda_cycle=.nan",
              "betas-out-of-range": "betas=[2, 0.9]", "betas-string": "betas=x", "init-gain-inf": "init_gain=.inf",
              "unknown-key": "colour=red", "no-key": "=3", "no-equals": "ngf", "gan-loss-unknown": "gan_loss=hinge2"}
SET_CASES = [Case(f"set-{name}", "--set values", lambda c, v=value: run_argv(c, "--set", v), USAGE, seconds=TRAINS)
             for name, value in SET_VALUES.items()]


def _file_named(name: str):
    def make(ctx: Ctx) -> Path:
        path = ctx.tmp / name
        path.write_text("a file, not a folder\n")
        return path
    return make


CLI_CASES = [
    Case("run-out-is-a-file", "cli values", lambda c: run_argv(c) + ["--out", str(_file_named("r.txt")(c))],
         (1, 2), seconds=TRAINS),
    Case("run-data-root-is-a-file", "cli values",
         lambda c: run_argv(c, "--data-root", str(_file_named("d.txt")(c))), (1, 2)),
    Case("run-data-root-missing", "cli values", lambda c: run_argv(c, "--data-root", str(c.tmp / "nope")), (1, 2)),
    Case("run-seed-negative", "cli values", lambda c: run_argv(c, "--seed", "-1"), USAGE),
    Case("run-seed-huge", "cli values", lambda c: run_argv(c, "--seed", str(2 ** 40)), USAGE),
    Case("run-batch-zero", "cli values", lambda c: run_argv(c, "--batch-size", "0"), USAGE),
    Case("run-batch-negative", "cli values", lambda c: run_argv(c, "--batch-size", "-3"), USAGE),
    Case("run-methods-empty", "cli values", lambda c: run_argv(c)[:4] + [","] + run_argv(c)[5:], USAGE),
    Case("run-task-path", "cli values", lambda c: ["run", "--task", "../../etc", "--methods", "cyclegan"], USAGE),
    Case("resume-missing-folder", "cli values", lambda c: ["resume", str(c.tmp / "nope")], (1, 2)),
    Case("resume-a-file", "cli values", lambda c: ["resume", str(_file_named("x.txt")(c))], (1, 2)),
    Case("evaluate-missing-folder", "cli values", lambda c: ["evaluate", str(c.tmp / "nope")], (1, 2)),
    Case("report-results-is-a-file", "cli values",
         lambda c: ["report", "--results", str(_file_named("x.json")(c)), "--out", str(c.tmp / "site")], (1, 2)),
    Case("leaderboard-tables-is-a-file", "cli values",
         lambda c: ["leaderboard", "--results", str(c.results), "--out", str(c.tmp / "b"), "--tables",
                    str(_file_named("t.yaml")(c))], (1, 2)),
]


# ------------------------------------------------------------------------------------------------- data folder
def _png_bytes(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _bomb_png() -> bytes:
    """A valid PNG header announcing 40000 x 40000 pixels (a few hundred bytes on disk)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", 40000, 40000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + \
        chunk(b"IEND", b"")


def _data(place):
    def setup(ctx: Ctx) -> list[str]:
        root = demo_data_copy(ctx.data_root / "demo")
        place(ctx, root / "val")
        ctx.writable = []
        return ["data", "verify", "--task", "demo", "--data-root", str(ctx.data_root)]
    return setup


def _write(name: str, data):
    return lambda c, folder: (folder / name).write_bytes(data() if callable(data) else data)


DATA_CASES = [
    Case("data-fifo", "data folder", _data(lambda c, f: os.mkfifo(f / "999.png")), FAIL, seconds=15),
    Case("data-link-dev-zero", "data folder", _data(lambda c, f: (f / "999.png").symlink_to("/dev/zero")), FAIL,
         seconds=15),
    Case("data-link-dev-zero-jpg", "data folder", _data(lambda c, f: (f / "999.jpg").symlink_to("/dev/zero")), FAIL,
         seconds=15),
    Case("data-fifo-not-an-image", "data folder", _data(lambda c, f: os.mkfifo(f / "notes.txt")), FAIL, seconds=15),
    Case("data-decompression-bomb", "data folder", _data(_write("999.png", _bomb_png)), FAIL),
    Case("data-png-named-jpg", "data folder", _data(_write("999.jpg", lambda: _png_bytes(64, 32))), FAIL,
         check=lambda c, out: None if "PNG" in out else "the message does not say the file is a PNG"),
    Case("data-truncated-png", "data folder", _data(_write("999.png", lambda: _png_bytes(64, 32)[:-20])), FAIL),
    Case("data-empty-png", "data folder", _data(_write("999.png", b"")), FAIL),
    Case("data-text-named-png", "data folder", _data(_write("999.png", b"hello, not an image\n")), FAIL),
    Case("data-random-png", "data folder", _data(_write("999.png", lambda: os.urandom(2048))), FAIL),
    Case("data-folder-named-png", "data folder", _data(lambda c, f: (f / "999.png").mkdir()), (0, 1)),
]


@pytest.mark.parametrize("case", SCHEDULE_CASES + SET_CASES + CLI_CASES + DATA_CASES, ids=str)
def test_hostile_values_and_data(case: Case, ctx: Ctx) -> None:
    assert_clean(case, ctx)


