"""What a researcher sees while a run trains, beside `losses.jsonl`.

- Progress lines (step, rate, ETA, latest losses) every `PROGRESS_INTERVAL_S` seconds when standard
  output is not a terminal (Slurm and nohup logs), where tqdm's bar is off.
- Snapshots: sample grids of the same fixed test images at `SNAPSHOTS` evenly spaced points of the
  run (`snapshots/step0000100_A2B.png`; fewer in runs under 400 steps, none under 100), so progress
  can be seen; they leave the training state untouched (training/samples.save_snapshot).
- `losses.png`: the loss curves (one panel per network), drawn when training ends or stops.
- TensorBoard scalars (every logged loss) and snapshot images through `torch.utils.tensorboard`,
  when asked (`harness run --tensorboard`; needs the optional `tensorboard` extra). A well-kept
  viewer beats a hand-written one; off by default so a plain install needs nothing more.

The trainer calls `start`, `after_step`, `log` and `close`; everything else lives here.
"""
from __future__ import annotations

import logging
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional, TextIO

import torch

from harness.errors import UsageError

log = logging.getLogger("harness.trainer")

PROGRESS_INTERVAL_S = 30.0
SNAPSHOTS = 4
# A snapshot costs about one training step (a forward pass per image and direction); runs get at most
# one per this many steps, so snapshots stay under ~1% of training and a 9-step smoke run takes none.
STEPS_PER_SNAPSHOT = 100
SNAPSHOT_DIR = "snapshots"
TENSORBOARD_DIR = "tensorboard"
LOSS_FIGURE = "losses.png"


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def snapshot_steps(total_steps: int, count: int = SNAPSHOTS) -> list[int]:
    """`count` evenly spaced steps ending at the last one; fewer in short runs (STEPS_PER_SNAPSHOT)."""
    count = min(count, total_steps // STEPS_PER_SNAPSHOT)
    if count < 1:
        return []
    return sorted({max(1, math.ceil(total_steps * k / count)) for k in range(1, count + 1)})


def open_tensorboard(folder: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:  # torch ships the writer, the `tensorboard` package provides the format
        raise UsageError(f"--tensorboard needs the tensorboard package ({exc}); install it with "
                         "`pip install -e '.[tensorboard]'` in a checkout "
                         "(or `pip install 'i2i-harness[tensorboard]'`)") from None
    return SummaryWriter(log_dir=str(folder))


def hparams_of(result: dict) -> tuple[dict[str, Any], dict[str, float]]:
    """(config as flat scalars, final computed metrics) of a result, as TensorBoard's HParams tab takes them."""
    config = result.get("config") or {}
    params: dict[str, Any] = {"method": str(result.get("method")), "schedule": str(result.get("schedule")),
                              "seed": int(result.get("seed") or 0)}
    for section in ("method", "schedule"):
        for key, value in (config.get(section) or {}).items():
            if isinstance(value, (bool, int, float, str)):
                params[f"{section}.{key}"] = value
            elif value is not None and not isinstance(value, dict):
                params[f"{section}.{key}"] = str(value)
    metrics = {f"metric/{direction}/{name}": float(entry["value"])
               for direction, entries in ((result.get("metrics") or {}).get("directions") or {}).items()
               for name, entry in (entries or {}).items()
               if entry.get("status") == "ok" and entry.get("value") is not None}
    return params, metrics


def write_hparams(run_dir: Path, result: dict) -> None:
    """The run's config and final metrics into RUN_DIR/tensorboard (HParams tab), once the result is written."""
    params, metrics = hparams_of(result)
    writer = open_tensorboard(Path(run_dir) / TENSORBOARD_DIR)
    try:
        writer.add_hparams(params, metrics, run_name=".")
    finally:
        writer.close()


class TrainingMonitor:
    """Progress lines, snapshots and TensorBoard for one run; inert on non-main data-parallel ranks."""

    def __init__(self, run_dir: Path, total_steps: int, fixed_images: Callable[[], dict[str, torch.Tensor]],
                 *, main: bool = True, tensorboard: bool = False, snapshots: int = SNAPSHOTS,
                 interval_s: float = PROGRESS_INTERVAL_S, stream: Optional[TextIO] = None,
                 clock: Callable[[], float] = time.monotonic):
        self.run_dir, self.total_steps, self.main = Path(run_dir), total_steps, main
        self._fixed_images = fixed_images
        self._images: Optional[dict[str, torch.Tensor]] = None
        self.snapshot_at = set(snapshot_steps(total_steps, snapshots)) if main else set()
        self.stream = stream if stream is not None else sys.stdout
        self.progress = main and not _is_terminal(self.stream)
        self.interval_s, self.clock = interval_s, clock
        self.writer = open_tensorboard(self.run_dir / TENSORBOARD_DIR) if main and tensorboard else None
        self.last_losses: dict[str, float] = {}
        self._start_step = 0
        self._start_time = self._last_line = clock()

    @classmethod
    def for_trainer(cls, trainer: Any, image: Any) -> "TrainingMonitor":
        """Built from what the trainer already holds (the hook in Trainer.__init__ is one line)."""
        from harness.training.samples import fixed_test_images

        directions = tuple(getattr(trainer.method, "directions", ("A2B", "B2A")))
        count = trainer.schedule.sample_count
        return cls(trainer.run_dir, trainer.total_steps,
                   lambda: fixed_test_images(trainer.data.split, image, directions, count),
                   main=trainer.dist.is_main, tensorboard=bool(getattr(trainer.options, "tensorboard", False)))

    # -- hooks ----------------------------------------------------------------------------
    def start(self, step: int) -> None:
        """Training (re)starts at `step`: rates count from here; earlier snapshot points are past."""
        self._start_step, self._start_time = step, self.clock()
        self._last_line = self._start_time
        self.snapshot_at = {s for s in self.snapshot_at if s > step}

    def after_step(self, step: int, method: Any, device: Any) -> None:
        if self.progress and self.clock() - self._last_line >= self.interval_s:
            self.progress_line(step)
        if step in self.snapshot_at:
            self.snapshot(step, method, device)

    def log(self, step: int, epoch: int, means: dict[str, float]) -> None:
        self.last_losses = dict(means)
        if self.writer is not None:
            for name, value in means.items():
                self.writer.add_scalar(f"loss/{name}", value, step)
            self.writer.add_scalar("progress/epoch", epoch, step)

    def close(self) -> None:
        """End of training (or its interruption): the loss-curve figure so far, and TensorBoard flushed."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.main and (self.run_dir / "losses.jsonl").is_file():
            try:
                from harness.report.figures import loss_figure

                loss_figure(self.run_dir / "losses.jsonl", self.run_dir / LOSS_FIGURE,
                            f"{self.run_dir.parent.name} ({self.run_dir.name})")
            except Exception as exc:  # a figure is never worth a failed run
                log.warning("could not draw %s: %s", self.run_dir / LOSS_FIGURE, exc)

    # -- what the hooks do ------------------------------------------------------------------
    def progress_line(self, step: int) -> str:
        now = self.clock()
        done = step - self._start_step
        rate = done / max(now - self._start_time, 1e-9)
        eta = format_duration((self.total_steps - step) / rate) if rate > 0 else "?"
        losses = " ".join(f"{k} {v:.3f}" for k, v in list(self.last_losses.items())[:6])
        line = (f"[{self.run_dir.parent.name}/{self.run_dir.name}] step {step}/{self.total_steps} "
                f"({100 * step / max(self.total_steps, 1):.0f}%) {rate:.2f} it/s ETA {eta}"
                + (f" | {losses}" if losses else ""))
        print(line, file=self.stream, flush=True)
        self._last_line = now
        return line

    def snapshot(self, step: int, method: Any, device: Any) -> list[Path]:
        from harness.training.samples import save_snapshot

        if self._images is None:
            self._images = self._fixed_images()
        folder = self.run_dir / SNAPSHOT_DIR
        paths = save_snapshot(method, self._images, device, lambda d: folder / f"step{step:07d}_{d}.png")
        if self.writer is not None:
            import numpy as np
            from PIL import Image

            for path in paths:
                array = np.asarray(Image.open(path).convert("RGB"))
                self.writer.add_image(f"snapshot/{path.stem.split('_', 1)[1]}", array, step, dataformats="HWC")
        return paths


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
