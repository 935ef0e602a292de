"""Training monitor (progress lines, snapshots, TensorBoard) and labelled sample grids."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from torch import nn

from harness.errors import UsageError
from harness.training.device import setup_device
from harness.training.monitor import TrainingMonitor, format_duration, snapshot_steps
from harness.training.samples import HEADER_PX, MIN_TILE, draw_grid, grid_columns, save_snapshot


class NoisyNet(nn.Module):
    """Batch norm and dropout in test-time train mode (pix2pix-like), plus a one-channel map."""

    directions = ("A2B",)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.norm = nn.BatchNorm2d(3)
        self.drop = nn.Dropout(0.5)
        self.config = type("C", (), {"inference_mode": "train"})()

    def autocast(self):
        return torch.autocast("cpu", enabled=False)

    def translate(self, images, direction):
        return torch.tanh(self.drop(self.norm(self.conv(images))))

    def visuals(self, images, direction):
        out = self.translate(images, direction)
        return {"attention": out.mean(1, keepdim=True).sigmoid(), "output": out}


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_progress_lines_at_a_fixed_interval_with_rate_and_eta(tmp_path):
    clock, stream = FakeClock(), io.StringIO()  # a StringIO is not a terminal
    (tmp_path / "cyclegan" / "smoke-seed0").mkdir(parents=True)
    monitor = TrainingMonitor(tmp_path / "cyclegan" / "smoke-seed0", 100, dict, snapshots=0, interval_s=30,
                              stream=stream, clock=clock)
    monitor.start(10)  # resumed at step 10
    monitor.log(20, 0, {"G_gan": 0.5, "D_A": 0.25})
    for step in range(11, 41):
        clock.now += 2.0
        monitor.after_step(step, None, None)
    lines = stream.getvalue().splitlines()
    (monitor.run_dir / "losses.jsonl").write_text('{"step": 1, "G_gan": 1.0, "D_A": 0.5}\n', encoding="utf-8")
    monitor.close()
    assert (monitor.run_dir / "losses.png").is_file()  # the run's loss-curve figure
    assert len(lines) == 2  # 60 s of training, a line every 30 s: after steps 25 and 40
    assert lines[0].startswith("[cyclegan/smoke-seed0] step 25/100 (25%) 0.50 it/s ETA 2m30s | G_gan 0.500 D_A 0.250")
    assert format_duration(3725) == "1h02m05s"


def test_no_progress_lines_on_a_terminal(tmp_path):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream, clock = Tty(), FakeClock()
    monitor = TrainingMonitor(tmp_path / "m" / "r", 10, dict, snapshots=0, interval_s=1, stream=stream, clock=clock)
    clock.now += 50
    monitor.after_step(5, None, None)
    assert stream.getvalue() == ""  # tqdm's bar is the terminal's progress


def test_snapshot_steps_are_evenly_spaced_and_end_at_the_last():
    assert snapshot_steps(2400, 4) == [600, 1200, 1800, 2400]
    assert snapshot_steps(250, 4) == [125, 250]  # at most one per 100 steps: under 1% of training
    assert snapshot_steps(9, 4) == [] and snapshot_steps(0, 4) == []


def test_snapshot_leaves_rng_and_buffers_as_they_were(tmp_path):
    torch.manual_seed(0)
    net, device = NoisyNet(), setup_device("cpu")
    net.train()
    images = {"A2B": torch.rand(2, 3, 8, 8) * 2 - 1}
    rng, buffers = torch.get_rng_state(), {k: v.clone() for k, v in net.named_buffers()}
    paths = save_snapshot(net, images, device, lambda d: tmp_path / f"step1_{d}.png")
    assert torch.equal(torch.get_rng_state(), rng) and net.training
    assert all(torch.equal(v, buffers[k]) for k, v in net.named_buffers())
    from PIL import Image
    grid = Image.open(paths[0])
    # input, attention, attention on output, output: 4 tiles of at least MIN_TILE px, under a header
    assert grid.size == (4 * (MIN_TILE + 2) + 2, HEADER_PX + 2 * (MIN_TILE + 2) + 2)


def test_grid_columns_overlay_maps_and_add_ground_truth():
    net, device = NoisyNet(), setup_device("cpu")
    images, truth = torch.zeros(2, 3, 8, 8), torch.ones(2, 3, 8, 8)
    scored = [torch.full((1, 3, 8, 8), 0.5), None]
    cols = grid_columns(net, images, "A2B", device, scored=scored, truth=truth)
    assert list(cols) == ["input", "attention", "attention on output", "output", "ground truth"]
    assert cols["attention"].shape == (2, 3, MIN_TILE, MIN_TILE)  # a colour map, not grey
    assert not torch.allclose(cols["attention"][:, 0], cols["attention"][:, 2])
    assert torch.allclose(cols["output"][0], torch.full((3, MIN_TILE, MIN_TILE), 0.75))  # the scored file's pixels
    assert torch.allclose(cols["ground truth"], torch.ones(2, 3, MIN_TILE, MIN_TILE))
    header = draw_grid(cols, MIN_TILE).crop((0, 0, MIN_TILE, HEADER_PX)).convert("L")
    assert np.asarray(header).min() < 128  # the column name is written above the first column


def test_tensorboard_flag_writes_events_or_names_the_missing_package(tmp_path):
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        with pytest.raises(UsageError, match="pip install"):
            TrainingMonitor(tmp_path / "m" / "r", 10, dict, tensorboard=True)
        return
    monitor = TrainingMonitor(tmp_path / "m" / "r", 10, dict, tensorboard=True, stream=io.StringIO())
    monitor.log(1, 0, {"G_gan": 0.5})
    monitor.close()
    events = list((tmp_path / "m" / "r" / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    assert [e.value for e in acc.Scalars("loss/G_gan")] == [0.5]


def test_hparams_carry_the_config_and_only_computed_metrics(tmp_path):
    from harness.training.monitor import TENSORBOARD_DIR, hparams_of, write_hparams
    result = {"method": "cyclegan", "schedule": "smoke", "seed": 2,
              "config": {"method": {"lr": 2e-4, "betas": [0.5, 0.999], "norm": "instance"},
                         "schedule": {"epochs_constant": 2, "method_defaults": {"ngf": 16}}},
              "metrics": {"directions": {"A2B": {"fcn_mean_iou": {"status": "ok", "value": 0.5},
                                                 "target_kid_x100": {"status": "unavailable", "reason": "r"}}}}}
    params, metrics = hparams_of(result)
    assert params["method.lr"] == 2e-4 and params["method.betas"] == "[0.5, 0.999]" and params["seed"] == 2
    assert "schedule.method_defaults" not in params and params["schedule.epochs_constant"] == 2
    assert metrics == {"metric/A2B/fcn_mean_iou": 0.5}  # an unavailable metric is never a number
    pytest.importorskip("tensorboard", reason="the optional tensorboard package is not installed")
    write_hparams(tmp_path, result)
    assert list((tmp_path / TENSORBOARD_DIR).rglob("events.out.tfevents.*"))
